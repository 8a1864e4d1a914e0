using System.Collections.ObjectModel;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;
using System.Text;

namespace AmsPwsh;

/// <summary>A console host like pwsh's, minus the line editor: output to stdout, errors to stderr.</summary>
internal sealed class AmsHost : PSHost, IHostSupportsInteractiveSession
{
    private readonly AmsHostUI _ui;
    private readonly Guid _id = Guid.NewGuid();

    public AmsHost(bool nonInteractive)
    {
        _ui = new AmsHostUI(nonInteractive);
    }

    public int? ExitCode { get; private set; }
    public override string Name => "ConsoleHost";
    public override Version Version => typeof(PSObject).Assembly.GetName().Version ?? new Version(7, 0);
    public override Guid InstanceId => _id;
    public override PSHostUserInterface UI => _ui;
    public override CultureInfo CurrentCulture => CultureInfo.CurrentCulture;
    public override CultureInfo CurrentUICulture => CultureInfo.CurrentUICulture;
    public override void SetShouldExit(int exitCode) => ExitCode = exitCode;
    public override void EnterNestedPrompt() => throw new NotSupportedException("Nested prompts are not supported by AmsPwsh.");
    public override void ExitNestedPrompt() => throw new NotSupportedException("Nested prompts are not supported by AmsPwsh.");
    public override void NotifyBeginApplication() { }
    public override void NotifyEndApplication() { }

    // IHostSupportsInteractiveSession (lets $Host.Runspace work)
    public System.Management.Automation.Runspaces.Runspace Runspace { get; set; }
    public bool IsRunspacePushed => false;
    public void PushRunspace(System.Management.Automation.Runspaces.Runspace runspace) => throw new NotSupportedException();
    public void PopRunspace() => throw new NotSupportedException();
}

internal sealed class AmsHostUI : PSHostUserInterface, IHostUISupportsMultipleChoiceSelection
{
    private readonly AmsRawUI _raw = new();
    private readonly bool _nonInteractive;
    private readonly TextWriter _out;
    private readonly TextWriter _err;

    public AmsHostUI(bool nonInteractive)
    {
        _nonInteractive = nonInteractive;
        var utf8 = new UTF8Encoding(false);
        _out = new StreamWriter(Console.OpenStandardOutput(), utf8) { AutoFlush = true };
        _err = new StreamWriter(Console.OpenStandardError(), utf8) { AutoFlush = true };
    }

    public override PSHostRawUserInterface RawUI => _raw;
    public override bool SupportsVirtualTerminal => Vt;

    // As pwsh's console host: escape sequences are dropped when $PSStyle.OutputRendering is PlainText, or
    // Host (the default) and the output does not go to a terminal.
    private bool Vt => !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("TERM") is { Length: > 0 } t && t != "dumb";
    private void Out(string s) => _out.Write(GetOutputString(s, Vt));

    public override void Write(string value) => Out(value);
    public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => Out(value);
    public override void WriteLine(string value) => Out(value + "\n");
    public override void WriteErrorLine(string value) { _out.Flush(); _err.Write(GetOutputString(value, !Console.IsErrorRedirected && Vt) + "\n"); }
    public override void WriteDebugLine(string message) => Out("DEBUG: " + message + "\n");
    public override void WriteVerboseLine(string message) => Out("VERBOSE: " + message + "\n");
    public override void WriteWarningLine(string message) => Out("WARNING: " + message + "\n");
    public override void WriteProgress(long sourceId, ProgressRecord record) { }
    public override void WriteInformation(InformationRecord record) { }

    private void EnsureInteractive()
    {
        if (_nonInteractive || Console.IsInputRedirected && Console.In.Peek() < 0)
        {
            throw new PSInvalidOperationException(
                "PowerShell is in NonInteractive mode (or standard input is closed). Read and Prompt functionality is not available.");
        }
    }

    public override string ReadLine()
    {
        EnsureInteractive();
        return Console.ReadLine() ?? string.Empty;
    }

    public override SecureString ReadLineAsSecureString()
    {
        EnsureInteractive();
        var s = new SecureString();
        foreach (char c in Console.ReadLine() ?? string.Empty) s.AppendChar(c);
        s.MakeReadOnly();
        return s;
    }

    public override Dictionary<string, PSObject> Prompt(string caption, string message, Collection<FieldDescription> descriptions)
    {
        EnsureInteractive();
        if (!string.IsNullOrEmpty(caption)) WriteLine(caption);
        if (!string.IsNullOrEmpty(message)) WriteLine(message);
        var result = new Dictionary<string, PSObject>();
        foreach (var d in descriptions)
        {
            Write(d.Name + ": ");
            bool secure = d.ParameterTypeFullName == typeof(SecureString).FullName;
            result[d.Name] = secure ? PSObject.AsPSObject(ReadLineAsSecureString()) : PSObject.AsPSObject(ReadLine());
        }
        return result;
    }

    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName)
        => PromptForCredential(caption, message, userName, targetName, PSCredentialTypes.Default, PSCredentialUIOptions.Default);

    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName,
        PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options)
    {
        EnsureInteractive();
        if (!string.IsNullOrEmpty(caption)) WriteLine(caption);
        if (!string.IsNullOrEmpty(message)) WriteLine(message);
        if (string.IsNullOrEmpty(userName)) { Write("User: "); userName = ReadLine(); }
        Write("Password for user " + userName + ": ");
        return new PSCredential(userName, ReadLineAsSecureString());
    }

    public override int PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices, int defaultChoice)
    {
        EnsureInteractive();
        if (!string.IsNullOrEmpty(caption)) WriteLine(caption);
        if (!string.IsNullOrEmpty(message)) WriteLine(message);
        while (true)
        {
            var sb = new StringBuilder();
            for (int i = 0; i < choices.Count; i++)
            {
                sb.Append('[').Append(Hotkey(choices[i].Label)).Append("] ").Append(choices[i].Label.Replace("&", "")).Append("  ");
            }
            sb.Append("(default is \"").Append(defaultChoice >= 0 ? Hotkey(choices[defaultChoice].Label) : "").Append("\"): ");
            Write(sb.ToString());
            string answer = ReadLine().Trim();
            if (answer.Length == 0 && defaultChoice >= 0) return defaultChoice;
            for (int i = 0; i < choices.Count; i++)
            {
                if (string.Equals(answer, Hotkey(choices[i].Label), StringComparison.OrdinalIgnoreCase)
                    || string.Equals(answer, choices[i].Label.Replace("&", ""), StringComparison.OrdinalIgnoreCase))
                {
                    return i;
                }
            }
        }
    }

    public Collection<int> PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices, IEnumerable<int> defaultChoices)
    {
        int one = PromptForChoice(caption, message, choices, defaultChoices?.FirstOrDefault() ?? -1);
        return new Collection<int> { one };
    }

    private static string Hotkey(string label)
    {
        int amp = label.IndexOf('&');
        return amp >= 0 && amp + 1 < label.Length ? label[amp + 1].ToString().ToUpperInvariant() : label;
    }
}

internal sealed class AmsRawUI : PSHostRawUserInterface
{
    private static int Width()
    {
        string env = Environment.GetEnvironmentVariable("COLUMNS");
        if (int.TryParse(env, out int c) && c > 20) return c;
        try
        {
            if (!Console.IsOutputRedirected && Console.BufferWidth > 0) return Console.BufferWidth;
        }
        catch (IOException) { }
        return 120;
    }

    public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;
    public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;
    public override Coordinates CursorPosition { get; set; }
    public override Coordinates WindowPosition { get; set; }
    public override int CursorSize { get; set; } = 1;
    public override Size BufferSize { get => new(Width(), 9001); set { } }
    public override Size WindowSize { get => new(Width(), 50); set { } }
    public override Size MaxWindowSize => new(Width(), 50);
    public override Size MaxPhysicalWindowSize => new(Width(), 50);
    public override bool KeyAvailable => false;
    public override string WindowTitle { get; set; } = "AmsPwsh";
    public override KeyInfo ReadKey(ReadKeyOptions options) => throw new NotSupportedException("ReadKey is not supported by AmsPwsh.");
    public override void FlushInputBuffer() { }
    public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) { }
    public override void SetBufferContents(Rectangle rectangle, BufferCell fill) { }
    public override BufferCell[,] GetBufferContents(Rectangle rectangle) => throw new NotSupportedException();
    public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) { }
}
