using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;
using System.Text;
using Microsoft.PowerShell.Commands.Internal.Format;

namespace Microsoft.PowerShell.Commands;

[Cmdlet(VerbsCommunications.Write, "Output")]
public sealed class WriteOutputCommand : PSCmdlet
{
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true, ValueFromRemainingArguments = true)]
    [AllowNull, AllowEmptyCollection]
    public PSObject[] InputObject { get; set; }

    [Parameter] public SwitchParameter NoEnumerate { get; set; }

    protected override void ProcessRecord()
    {
        if (InputObject == null) { WriteObject(null); return; }
        bool enumerate = !NoEnumerate;
        if (InputObject.Length == 1) WriteObject(InputObject[0], enumerate);
        else WriteObject(InputObject, enumerate);
    }
}

[Cmdlet(VerbsCommunications.Write, "Host")]
public sealed class WriteHostCommand : PSCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromRemainingArguments = true)]
    [Alias("Msg", "Message")]
    public object Object { get; set; }

    [Parameter] public SwitchParameter NoNewline { get; set; }
    [Parameter] public object Separator { get; set; } = " ";
    [Parameter] public ConsoleColor ForegroundColor { get; set; }
    [Parameter] public ConsoleColor BackgroundColor { get; set; }

    private void Append(StringBuilder sb, object o)
    {
        if (o == null) return;
        if (o is PSObject p && p.BaseObject is not PSCustomObject) o = p.BaseObject;
        if (o is string s) { sb.Append(s); return; }
        if (o is IEnumerable e)
        {
            bool first = true;
            foreach (object item in e)
            {
                if (!first && Separator != null) sb.Append(Separator);
                Append(sb, item);
                first = false;
            }
            return;
        }
        sb.Append(o.ToString());
    }

    protected override void ProcessRecord()
    {
        var sb = new StringBuilder();
        Append(sb, Object);
        var message = new HostInformationMessage { Message = sb.ToString(), NoNewLine = NoNewline.IsPresent };
        if (MyInvocation.BoundParameters.ContainsKey(nameof(ForegroundColor))) message.ForegroundColor = ForegroundColor;
        if (MyInvocation.BoundParameters.ContainsKey(nameof(BackgroundColor))) message.BackgroundColor = BackgroundColor;
        WriteInformation(message, new[] { "PSHOST" });
    }
}

[Cmdlet(VerbsCommunications.Write, "Warning")]
public sealed class WriteWarningCommand : PSCmdlet
{
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true)]
    [AllowEmptyString, Alias("Msg")]
    public string Message { get; set; }

    protected override void ProcessRecord() => WriteWarning(Message ?? string.Empty);
}

[Cmdlet(VerbsCommunications.Write, "Verbose")]
public sealed class WriteVerboseCommand : PSCmdlet
{
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true)]
    [AllowEmptyString, Alias("Msg")]
    public string Message { get; set; }

    protected override void ProcessRecord() => WriteVerbose(Message ?? string.Empty);
}

[Cmdlet(VerbsCommunications.Write, "Debug")]
public sealed class WriteDebugCommand : PSCmdlet
{
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true)]
    [AllowEmptyString, Alias("Msg")]
    public string Message { get; set; }

    protected override void ProcessRecord() => WriteDebug(Message ?? string.Empty);
}

[Cmdlet(VerbsCommunications.Write, "Information")]
public sealed class WriteInformationCommand : PSCmdlet
{
    [Parameter(Position = 0, Mandatory = true)]
    [Alias("Msg", "Message")]
    [AllowNull]
    public object MessageData { get; set; }

    [Parameter(Position = 1)] public string[] Tags { get; set; }

    protected override void ProcessRecord() => WriteInformation(MessageData, Tags ?? Array.Empty<string>());
}

[Cmdlet(VerbsCommunications.Write, "Progress")]
public sealed class WriteProgressCommand : PSCmdlet
{
    [Parameter(Position = 0)] public string Activity { get; set; }
    [Parameter(Position = 1)] public string Status { get; set; }
    [Parameter(Position = 2)] [ValidateRange(0, int.MaxValue)] public int Id { get; set; }
    [Parameter] [ValidateRange(-1, 100)] public int PercentComplete { get; set; } = -1;
    [Parameter] public int SecondsRemaining { get; set; } = -1;
    [Parameter] public string CurrentOperation { get; set; }
    [Parameter] [ValidateRange(-1, int.MaxValue)] public int ParentId { get; set; } = -1;
    [Parameter] public SwitchParameter Completed { get; set; }
    [Parameter] public int SourceId { get; set; }

    protected override void ProcessRecord()
    {
        var record = new ProgressRecord(Id, string.IsNullOrEmpty(Activity) ? "Processing" : Activity, string.IsNullOrEmpty(Status) ? "Processing" : Status)
        {
            PercentComplete = PercentComplete,
            SecondsRemaining = SecondsRemaining,
            CurrentOperation = CurrentOperation,
            ParentActivityId = ParentId,
            RecordType = Completed ? ProgressRecordType.Completed : ProgressRecordType.Processing,
        };
        WriteProgress(record);
    }
}

/// <summary>The exception behind a Write-Error message, as in PowerShell.</summary>
public class WriteErrorException : SystemException
{
    public WriteErrorException() : base("An error occurred.") { }
    public WriteErrorException(string message) : base(message) { }
    public WriteErrorException(string message, Exception innerException) : base(message, innerException) { }
}

[Cmdlet(VerbsCommunications.Write, "Error", DefaultParameterSetName = "NoException")]
public sealed class WriteErrorCommand : PSCmdlet
{
    [Parameter(ParameterSetName = "WithException", Mandatory = true)]
    public Exception Exception { get; set; }

    [Parameter(Position = 0, ParameterSetName = "NoException", Mandatory = true, ValueFromPipeline = true)]
    [Parameter(ParameterSetName = "WithException")]
    [AllowNull, AllowEmptyString, Alias("Msg")]
    public string Message { get; set; }

    [Parameter(ParameterSetName = "ErrorRecord", Mandatory = true)]
    public ErrorRecord ErrorRecord { get; set; }

    [Parameter(ParameterSetName = "NoException")]
    [Parameter(ParameterSetName = "WithException")]
    public ErrorCategory Category { get; set; } = ErrorCategory.NotSpecified;

    [Parameter(ParameterSetName = "NoException")]
    [Parameter(ParameterSetName = "WithException")]
    public string ErrorId { get; set; } = string.Empty;

    [Parameter(ParameterSetName = "NoException")]
    [Parameter(ParameterSetName = "WithException")]
    public object TargetObject { get; set; }

    [Parameter] public string RecommendedAction { get; set; } = string.Empty;
    [Parameter] [Alias("Activity")] public string CategoryActivity { get; set; } = string.Empty;
    [Parameter] [Alias("Reason")] public string CategoryReason { get; set; } = string.Empty;
    [Parameter] [Alias("TargetName")] public string CategoryTargetName { get; set; } = string.Empty;
    [Parameter] [Alias("TargetType")] public string CategoryTargetType { get; set; } = string.Empty;

    protected override void ProcessRecord()
    {
        ErrorRecord record;
        if (ErrorRecord != null)
        {
            record = new ErrorRecord(ErrorRecord, ErrorRecord.Exception);
        }
        else
        {
            Exception e = Exception ?? new WriteErrorException(Message ?? string.Empty);
            string errorId = string.IsNullOrEmpty(ErrorId) ? e.GetType().FullName : ErrorId;
            record = new ErrorRecord(e, errorId, Category, TargetObject);
            if (Exception != null && !string.IsNullOrEmpty(Message)) record.ErrorDetails = new ErrorDetails(Message);
        }
        if (!string.IsNullOrEmpty(RecommendedAction))
        {
            record.ErrorDetails ??= new ErrorDetails(record.Exception?.Message ?? string.Empty);
            record.ErrorDetails.RecommendedAction = RecommendedAction;
        }
        if (!string.IsNullOrEmpty(CategoryActivity)) record.CategoryInfo.Activity = CategoryActivity;
        if (!string.IsNullOrEmpty(CategoryReason)) record.CategoryInfo.Reason = CategoryReason;
        if (!string.IsNullOrEmpty(CategoryTargetName)) record.CategoryInfo.TargetName = CategoryTargetName;
        if (!string.IsNullOrEmpty(CategoryTargetType)) record.CategoryInfo.TargetType = CategoryTargetType;

        // As the real cmdlet: the error is reported at the script or function that called Write-Error.
        if (GetVariableValue("MyInvocation") is InvocationInfo caller)
        {
            SmaInternals.SetInvocationInfo(record, caller);
            if (string.IsNullOrEmpty(CategoryActivity)) record.CategoryInfo.Activity = "Write-Error";
        }
        WriteError(record);
    }
}

[Cmdlet(VerbsData.Out, "String", DefaultParameterSetName = "NoNewLineFormatting")]
[OutputType(typeof(string))]
public sealed class OutStringCommand : FrontEndCommandBase
{
    private readonly StringBuilder _buffer = new();
    private TextWriter _writer;

    public OutStringCommand() => SmaInternals.UseOutputManager(this);

    [Parameter(ParameterSetName = "StreamFormatting")] public SwitchParameter Stream { get; set; }
    [Parameter] [ValidateRange(2, int.MaxValue)] public int Width { get; set; }
    [Parameter(ParameterSetName = "NoNewLineFormatting")] public SwitchParameter NoNewline { get; set; }

    protected override void BeginProcessing()
    {
        int width = 120;
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Width))) width = Width;
        else
        {
            try { int w = Host.UI.RawUI.BufferSize.Width; if (w > 0) width = w; } catch (Exception) { }
        }
        _writer = SmaInternals.NewStreamingTextWriter(this, nameof(OnWriteLine), Host.CurrentCulture);
        SmaInternals.SetLineOutput(this, _writer, width);
        base.BeginProcessing();
    }

    private void OnWriteLine(string s)
    {
        if (Stream) WriteObject(s);
        else if (NoNewline) _buffer.Append(s);
        else _buffer.AppendLine(s);
    }

    protected override void EndProcessing()
    {
        base.EndProcessing();
        _writer?.Flush();
        if (!Stream) WriteObject(_buffer.ToString());
    }
}

[Cmdlet(VerbsData.Out, "File", SupportsShouldProcess = true, DefaultParameterSetName = "ByPath")]
public sealed class OutFileCommand : FrontEndCommandBase
{
    private StreamWriter _file;

    public OutFileCommand() => SmaInternals.UseOutputManager(this);

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "ByPath")] [Alias("Path")] public string FilePath { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "ByLiteralPath")] [Alias("PSPath", "LP")] public string LiteralPath { get; set; }
    [Parameter(Position = 1)] [EncodingCompletions] public object Encoding { get; set; }
    [Parameter] public SwitchParameter Append { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] [Alias("NoOverwrite")] public SwitchParameter NoClobber { get; set; }
    [Parameter] [ValidateRange(2, int.MaxValue)] public int Width { get; set; }
    [Parameter] public SwitchParameter NoNewline { get; set; }

    protected override void BeginProcessing()
    {
        string path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(FilePath ?? LiteralPath);
        if (NoClobber && File.Exists(path) && !Append)
        {
            ThrowTerminatingError(new ErrorRecord(new IOException($"The file '{path}' already exists."), "NoClobber", ErrorCategory.ResourceExists, path));
        }
        if (!ShouldProcess(path)) { _file = null; return; }
        _file = new StreamWriter(path, Append, EncodingArg.Get(Encoding) ?? new UTF8Encoding(false));
        int width = MyInvocation.BoundParameters.ContainsKey(nameof(Width)) ? Width : 120;
        var lineWriter = SmaInternals.NewStreamingTextWriter(this, nameof(OnWriteLine), Host.CurrentCulture);
        SmaInternals.SetLineOutput(this, lineWriter, width);
        base.BeginProcessing();
    }

    private void OnWriteLine(string s)
    {
        if (NoNewline) _file.Write(s); else _file.WriteLine(s);
    }

    protected override void ProcessRecord()
    {
        if (_file != null) base.ProcessRecord();
    }

    protected override void EndProcessing()
    {
        if (_file == null) return;
        base.EndProcessing();
        _file.Dispose();
        _file = null;
    }

    protected override void InternalDispose()
    {
        _file?.Dispose();
        base.InternalDispose();
    }
}

[Cmdlet(VerbsCommon.Format, "Table")]
public sealed class FormatTableCommand : OuterFormatTableBase
{
    public FormatTableCommand() => SmaInternals.UseFormatShape(this, "Table");
}

[Cmdlet(VerbsCommon.Format, "List")]
public sealed class FormatListCommand : OuterFormatTableAndListBase
{
    public FormatListCommand() => SmaInternals.UseFormatShape(this, "List");
}

[Cmdlet(VerbsCommunications.Read, "Host", DefaultParameterSetName = "AsString")]
public sealed class ReadHostCommand : PSCmdlet
{
    [Parameter(Position = 0, ValueFromRemainingArguments = true)] [AllowNull] public object Prompt { get; set; }
    [Parameter(ParameterSetName = "AsSecureString")] public SwitchParameter AsSecureString { get; set; }
    [Parameter(ParameterSetName = "AsString")] public SwitchParameter MaskInput { get; set; }

    protected override void BeginProcessing()
    {
        if (Prompt != null)
        {
            var sb = new StringBuilder();
            foreach (object o in LanguagePrimitives.GetEnumerable(Prompt) ?? new[] { Prompt })
            {
                if (sb.Length > 0) sb.Append(' ');
                sb.Append(o);
            }
            Host.UI.Write(sb + ": ");
        }
        try
        {
            if (AsSecureString) WriteObject(Host.UI.ReadLineAsSecureString());
            else if (MaskInput)
            {
                SecureString s = Host.UI.ReadLineAsSecureString();
                WriteObject(new System.Net.NetworkCredential(string.Empty, s).Password);
            }
            else WriteObject(Host.UI.ReadLine());
        }
        catch (PSInvalidOperationException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "ReadHostNonInteractive", ErrorCategory.InvalidOperation, null));
        }
    }
}

[Cmdlet(VerbsCommon.Get, "Host")]
public sealed class GetHostCommand : PSCmdlet
{
    protected override void BeginProcessing() => WriteObject(Host);
}

[Cmdlet(VerbsCommon.Clear, "Host")]
public sealed class ClearHostCommand : PSCmdlet
{
    protected override void BeginProcessing() { }
}

[Cmdlet(VerbsCommon.Join, "String")]
[OutputType(typeof(string))]
public sealed class JoinStringCommand : PSCmdlet
{
    private readonly List<string> _items = new();

    [Parameter(Position = 0)] public PSPropertyExpression Property { get; set; }
    [Parameter(Position = 1)] [AllowEmptyString] public string Separator { get; set; } = string.Empty;
    [Parameter] [Alias("op")] public string OutputPrefix { get; set; }
    [Parameter] [Alias("os")] public string OutputSuffix { get; set; }
    [Parameter] public SwitchParameter SingleQuote { get; set; }
    [Parameter] public SwitchParameter DoubleQuote { get; set; }
    [Parameter] public string FormatString { get; set; }
    [Parameter] public SwitchParameter UseCulture { get; set; }
    [Parameter(ValueFromPipeline = true)] public PSObject[] InputObject { get; set; }

    protected override void ProcessRecord()
    {
        if (InputObject == null) return;
        foreach (PSObject o in InputObject)
        {
            if (o == null || o.BaseObject == null) continue;
            object value = o;
            if (Property != null)
            {
                var r = Property.GetValues(o, false, true).FirstOrDefault();
                value = r?.Result;
            }
            string s = FormatString != null
                ? string.Format(System.Globalization.CultureInfo.CurrentCulture, FormatString, PSObject.AsPSObject(value).BaseObject)
                : LanguagePrimitives.ConvertTo<string>(value);
            if (SingleQuote) s = "'" + s.Replace("'", "''") + "'";
            else if (DoubleQuote) s = "\"" + s + "\"";
            _items.Add(s);
        }
    }

    protected override void EndProcessing()
        => WriteObject((OutputPrefix ?? "") + string.Join(Separator ?? "", _items) + (OutputSuffix ?? ""));
}

[Cmdlet(VerbsCommon.Get, "Culture")]
public sealed class GetCultureCommand : PSCmdlet
{
    [Parameter(Position = 0)] public string Name { get; set; }
    [Parameter] public SwitchParameter ListAvailable { get; set; }

    protected override void BeginProcessing()
    {
        if (ListAvailable) WriteObject(System.Globalization.CultureInfo.GetCultures(System.Globalization.CultureTypes.AllCultures), true);
        else if (Name != null) WriteObject(System.Globalization.CultureInfo.GetCultureInfo(Name));
        else WriteObject(Host.CurrentCulture);
    }
}

[Cmdlet(VerbsCommon.Get, "UICulture")]
public sealed class GetUICultureCommand : PSCmdlet
{
    protected override void BeginProcessing() => WriteObject(Host.CurrentUICulture);
}
