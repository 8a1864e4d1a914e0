// AmsPwsh: runs a PowerShell script like `pwsh -NoProfile -NonInteractive -File x.ps1 args`, on the real
// PowerShell 7 engine (System.Management.Automation from NuGet), with stand-in Utility/Management/
// Security cmdlets (AmsPwsh.Commands) imported as modules from $PSHOME/Modules.
//
// Exit codes (as pwsh -File): the N of `exit N`; 1 when the script ends with an uncaught terminating
// error (printed to stderr); otherwise 0 (non-terminating errors are printed but do not fail the run).
// With -Command: the N of `exit N`; 1 on a terminating error or when any error was written; else 0.
// 64 for a bad command line, as pwsh.
using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Reflection;
using AmsPwsh;

string file = null, command = null;
bool nonInteractive = false, showVersion = false;
var scriptArgs = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    string a = args[i];
    if (file != null || command != null) { scriptArgs.Add(a); continue; }
    string opt = a.StartsWith("-", StringComparison.Ordinal) ? a.TrimStart('-').ToLowerInvariant() : null;
    switch (opt)
    {
        case "noprofile": case "nop": case "nologo": case "nol": break;
        case "noninteractive": case "noni": nonInteractive = true; break;
        case "executionpolicy": case "ep": case "ex": case "outputformat": case "of": case "inputformat": case "if": i++; break;
        case "file": case "f":
            if (i + 1 >= args.Length) { Console.Error.WriteLine("AmsPwsh: -File needs a path."); return 64; }
            file = args[++i]; break;
        case "command": case "c":
            if (i + 1 >= args.Length) { Console.Error.WriteLine("AmsPwsh: -Command needs a value."); return 64; }
            command = args[++i]; break;
        case "version": case "v": showVersion = true; break;
        case null: file = a; break;
        default: Console.Error.WriteLine($"AmsPwsh: unknown option {a}. Usage: AmsPwsh [-NoProfile] [-NonInteractive] (-File <script.ps1> [args...] | -Command <text> | -Version)"); return 64;
    }
}

if (showVersion)
{
    Console.WriteLine("AmsPwsh on System.Management.Automation " +
        typeof(PSObject).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion);
    return 0;
}
if (file == null && command == null)
{
    Console.Error.WriteLine("Usage: AmsPwsh [-NoProfile] [-NonInteractive] (-File <script.ps1> [args...] | -Command <text> | -Version)");
    return 64;
}

string fullPath = null;
if (file != null)
{
    fullPath = Path.GetFullPath(file);
    if (!File.Exists(fullPath))
    {
        Console.Error.WriteLine($"The argument '{file}' is not recognized as the name of a script file. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.");
        return 64;
    }
}

var host = new AmsHost(nonInteractive);
var iss = InitialSessionState.CreateDefault2();
iss.ThrowOnRunspaceOpenError = true;
string pshome = AppContext.BaseDirectory;
var modules = new[] { "Microsoft.PowerShell.Utility", "Microsoft.PowerShell.Management", "Microsoft.PowerShell.Security" }
    .Select(m => Path.Combine(pshome, "Modules", m, m + ".psd1")).ToArray();
iss.ImportPSModule(modules);

using var runspace = RunspaceFactory.CreateRunspace(host, iss);
host.Runspace = runspace;
runspace.Open();
Runspace.DefaultRunspace = runspace;

// pwsh -File lets `exit N` in the script end the process with N: the engine rethrows the ExitException
// to the host (ExecutionContext.ScriptCommandProcessorShouldRethrowExit is what ConsoleHost sets).
SetRethrowExit(runspace);

using var ps = PowerShell.Create();
ps.Runspace = runspace;
if (fullPath != null)
{
    ps.AddCommand(fullPath);
    AddScriptArguments(ps, runspace, fullPath, scriptArgs);
}
else
{
    ps.AddScript(command);
}
ps.Commands.Commands[0].MergeMyResults(PipelineResultTypes.Error, PipelineResultTypes.Output);
ps.AddCommand("Out-Default");

bool terminated = false;
try
{
    ps.Invoke();
    if (ps.InvocationStateInfo.State == PSInvocationState.Failed && ps.InvocationStateInfo.Reason != null)
    {
        throw ps.InvocationStateInfo.Reason;
    }
}
catch (Exception e) when (host.ExitCode == null)
{
    terminated = true;
    ReportTerminatingError(runspace, e);
}

if (host.ExitCode is int code) return code;
if (terminated) return 1;
if (command != null && ps.HadErrors) return 1;
return 0;

static void SetRethrowExit(Runspace runspace)
{
    try
    {
        var ctx = runspace.GetType().GetProperty("GetExecutionContext", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)?.GetValue(runspace);
        ctx?.GetType().GetProperty("ScriptCommandProcessorShouldRethrowExit", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)?.SetValue(ctx, true);
    }
    catch (Exception e)
    {
        Console.Error.WriteLine("AmsPwsh: warning: `exit N` in the script may not set the exit code: " + e.Message);
    }
}

// pwsh -File binds "-Name value", "-Name:value" and "-Switch" to the script's parameters by name.
static void AddScriptArguments(PowerShell ps, Runspace runspace, string path, List<string> scriptArgs)
{
    Dictionary<string, ParameterMetadata> parameters = new(StringComparer.OrdinalIgnoreCase);
    try
    {
        using var probe = PowerShell.Create();
        probe.Runspace = runspace;
        var info = probe.AddCommand("Get-Command").AddParameter("Name", path).Invoke<ExternalScriptInfo>().FirstOrDefault();
        if (info != null) foreach (var kv in info.Parameters) parameters[kv.Key] = kv.Value;
    }
    catch (Exception) { /* bind positionally */ }

    for (int i = 0; i < scriptArgs.Count; i++)
    {
        string a = scriptArgs[i];
        if (a.Length > 1 && a[0] == '-' && !char.IsDigit(a[1]))
        {
            string name = a.Substring(1);
            string value = null;
            int colon = name.IndexOf(':');
            if (colon >= 0) { value = name.Substring(colon + 1); name = name.Substring(0, colon); }
            ParameterMetadata meta = parameters.TryGetValue(name, out var m) ? m
                : parameters.Values.FirstOrDefault(p => p.Name.StartsWith(name, StringComparison.OrdinalIgnoreCase) || p.Aliases.Contains(name, StringComparer.OrdinalIgnoreCase));
            if (meta != null)
            {
                if (meta.SwitchParameter)
                {
                    ps.AddParameter(meta.Name, value == null || LanguagePrimitives.IsTrue(value == "$false" ? false : value == "$true" ? true : (object)value));
                }
                else if (value != null) ps.AddParameter(meta.Name, value);
                else if (i + 1 < scriptArgs.Count) ps.AddParameter(meta.Name, scriptArgs[++i]);
                else ps.AddParameter(meta.Name);
                continue;
            }
        }
        ps.AddArgument(a);
    }
}

static void ReportTerminatingError(Runspace runspace, Exception e)
{
    ErrorRecord record = e is IContainsErrorRecord c && c.ErrorRecord != null
        ? new ErrorRecord(c.ErrorRecord, e)
        : new ErrorRecord(e, e.GetType().Name, ErrorCategory.NotSpecified, null);
    try
    {
        using var show = PowerShell.Create();
        show.Runspace = runspace;
        var wrapped = new PSObject(record);
        wrapped.Properties.Add(new PSNoteProperty("writeErrorStream", true));
        show.AddScript("param($r) $global:Error.Insert(0, $r.psobject.BaseObject); $r | Out-Default").AddArgument(wrapped);
        show.Invoke();
        if (!show.HadErrors) return;
    }
    catch (Exception) { }
    Console.Error.WriteLine(e.Message);
}
