using System.Management.Automation;
using System.Security;

namespace Microsoft.PowerShell.Commands;

public abstract class SecureStringCommandBase : PSCmdlet
{
    [Parameter(ParameterSetName = "Secure", Position = 1)] public SecureString SecureKey { get; set; }
    [Parameter(ParameterSetName = "Open")] public byte[] Key { get; set; }

    internal byte[] KeyBytes()
    {
        if (Key != null) return Key;
        if (SecureKey != null) return System.Text.Encoding.Unicode.GetBytes(new System.Net.NetworkCredential(string.Empty, SecureKey).Password);
        return null;
    }
}

[Cmdlet(VerbsData.ConvertTo, "SecureString", DefaultParameterSetName = "Secure")]
[OutputType(typeof(SecureString))]
public sealed class ConvertToSecureStringCommand : SecureStringCommandBase
{
    [Parameter(Position = 0, ValueFromPipeline = true, Mandatory = true)] public string String { get; set; }
    [Parameter(Position = 1, ParameterSetName = "PlainText")] public SwitchParameter AsPlainText { get; set; }
    [Parameter(Position = 2, ParameterSetName = "PlainText")] public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        if (AsPlainText)
        {
            // PowerShell 7 no longer insists on -Force with -AsPlainText.
            var s = new SecureString();
            foreach (char c in String) s.AppendChar(c);
            s.MakeReadOnly();
            WriteObject(s);
            return;
        }
        try
        {
            byte[] key = KeyBytes();
            WriteObject(key != null ? SmaInternals.Decrypt(String, key) : SmaInternals.Unprotect(String));
        }
        catch (Exception e)
        {
            Exception inner = e is System.Reflection.TargetInvocationException t && t.InnerException != null ? t.InnerException : e;
            WriteError(new ErrorRecord(new ArgumentException("Cannot process argument because the value of argument \"input\" is not valid. Change the value of the \"input\" argument and run the operation again.", inner),
                "ImportSecureString_InvalidArgument", ErrorCategory.InvalidArgument, String));
        }
    }
}

[Cmdlet(VerbsData.ConvertFrom, "SecureString", DefaultParameterSetName = "Secure")]
[OutputType(typeof(string))]
public sealed class ConvertFromSecureStringCommand : SecureStringCommandBase
{
    [Parameter(Position = 0, ValueFromPipeline = true, Mandatory = true)] public SecureString SecureString { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "AsPlainText")] public SwitchParameter AsPlainText { get; set; }

    protected override void ProcessRecord()
    {
        if (AsPlainText)
        {
            WriteObject(new System.Net.NetworkCredential(string.Empty, SecureString).Password);
            return;
        }
        byte[] key = KeyBytes();
        WriteObject(key != null ? SmaInternals.Encrypt(SecureString, key) : SmaInternals.Protect(SecureString));
    }
}

[Cmdlet(VerbsCommon.Get, "Credential", DefaultParameterSetName = "CredentialSet")]
[OutputType(typeof(PSCredential))]
public sealed class GetCredentialCommand : PSCmdlet
{
    [Parameter(Position = 0, ParameterSetName = "CredentialSet")] [Credential] public PSCredential Credential { get; set; }
    [Parameter(ParameterSetName = "MessageSet")] public string Message { get; set; }
    [Parameter(Position = 0, ParameterSetName = "MessageSet")] public string UserName { get; set; }
    [Parameter] public string Title { get; set; }

    protected override void BeginProcessing()
    {
        if (Credential != null) { WriteObject(Credential); return; }
        try
        {
            WriteObject(Host.UI.PromptForCredential(Title ?? "PowerShell credential request", Message ?? "Enter your credentials.", UserName, string.Empty));
        }
        catch (PSInvalidOperationException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "CouldNotPromptForCredential", ErrorCategory.InvalidOperation, null));
        }
    }
}

[Cmdlet(VerbsCommon.Get, "ExecutionPolicy", DefaultParameterSetName = "All")]
public sealed class GetExecutionPolicyCommand : PSCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)] public ExecutionPolicyScope Scope { get; set; }
    [Parameter] public SwitchParameter List { get; set; }

    protected override void BeginProcessing()
    {
        if (!List) { WriteObject(ExecutionPolicy.Unrestricted); return; }
        foreach (ExecutionPolicyScope s in Enum.GetValues<ExecutionPolicyScope>())
        {
            var o = new PSObject();
            o.Properties.Add(new PSNoteProperty("Scope", s));
            o.Properties.Add(new PSNoteProperty("ExecutionPolicy", s == ExecutionPolicyScope.LocalMachine ? ExecutionPolicy.Unrestricted : ExecutionPolicy.Undefined));
            WriteObject(o);
        }
    }
}

[Cmdlet(VerbsCommon.Set, "ExecutionPolicy", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
public sealed class SetExecutionPolicyCommand : PSCmdlet
{
    [Parameter(Position = 0, Mandatory = true, ValueFromPipelineByPropertyName = true)] public ExecutionPolicy ExecutionPolicy { get; set; }
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)] public ExecutionPolicyScope Scope { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }

    protected override void BeginProcessing()
    {
        // As pwsh on Linux and macOS.
        WriteError(new ErrorRecord(new PlatformNotSupportedException("Operation is not supported on this platform."),
            "CantSetGroupPolicy", ErrorCategory.InvalidOperation, null));
    }
}
