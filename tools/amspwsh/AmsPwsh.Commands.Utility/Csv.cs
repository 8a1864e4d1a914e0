using System.Management.Automation;
using System.Text;

namespace Microsoft.PowerShell.Commands;

public enum QuoteKind { Never, Always, AsNeeded }

internal static class CsvFormat
{
    public static string Header(IList<string> names, char d, QuoteKind q, string[] quoteFields)
        => string.Join(d, names.Select(n => Quote(n, d, q, quoteFields, n)));

    public static string Line(PSObject o, IList<string> names, char d, QuoteKind q, string[] quoteFields)
        => string.Join(d, names.Select(n =>
        {
            object v = null;
            try { v = o.Properties[n]?.Value; } catch (Exception) { }
            return v == null ? string.Empty : Quote(LanguagePrimitives.ConvertTo<string>(v), d, q, quoteFields, n);
        }));

    private static string Quote(string s, char d, QuoteKind q, string[] quoteFields, string name)
    {
        bool quote = quoteFields != null ? quoteFields.Contains(name, StringComparer.OrdinalIgnoreCase)
            : q == QuoteKind.Always || q == QuoteKind.AsNeeded && (s.IndexOfAny(new[] { d, '"', '\n', '\r' }) >= 0);
        return quote ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
    }

    public static List<string> Names(PSObject o) => o.Properties.Where(p => p.IsGettable).Select(p => p.Name).ToList();

    /// <summary>Splits CSV text into records of fields (RFC 4180: quotes, doubled quotes, new lines in quotes).</summary>
    public static IEnumerable<List<string>> Records(TextReader reader, char d)
    {
        var field = new StringBuilder();
        var record = new List<string>();
        bool inQuotes = false, any = false;
        int c;
        while ((c = reader.Read()) >= 0)
        {
            char ch = (char)c;
            any = true;
            if (inQuotes)
            {
                if (ch == '"')
                {
                    if (reader.Peek() == '"') { field.Append('"'); reader.Read(); }
                    else inQuotes = false;
                }
                else field.Append(ch);
            }
            else if (ch == '"') inQuotes = true;
            else if (ch == d) { record.Add(field.ToString()); field.Clear(); }
            else if (ch == '\r') { }
            else if (ch == '\n')
            {
                record.Add(field.ToString()); field.Clear();
                if (!(record.Count == 1 && record[0].Length == 0)) yield return record;
                record = new List<string>();
                any = false;
            }
            else field.Append(ch);
        }
        if (any) { record.Add(field.ToString()); if (!(record.Count == 1 && record[0].Length == 0)) yield return record; }
    }

    public static IEnumerable<PSObject> Objects(TextReader reader, char d, string[] header)
    {
        string typeName = null;
        List<string> names = header?.ToList();
        foreach (var rec in Records(reader, d))
        {
            if (names == null && rec.Count > 0 && rec[0].StartsWith("#TYPE ", StringComparison.Ordinal) && typeName == null)
            {
                typeName = rec[0].Substring(6).Trim();
                continue;
            }
            if (names == null) { names = rec.Select((n, i) => n.Length == 0 ? "H" + (i + 1) : n).ToList(); continue; }
            var o = new PSObject();
            for (int i = 0; i < names.Count; i++) o.Properties.Add(new PSNoteProperty(names[i], i < rec.Count ? rec[i] : null));
            if (rec.Count > names.Count)
            {
                o.Properties.Add(new PSNoteProperty("H" + (names.Count + 1), string.Join(d, rec.Skip(names.Count))));
            }
            if (typeName != null) o.TypeNames.Insert(0, "CSV:" + typeName);
            yield return o;
        }
    }

    public static char Delimiter(PSCmdlet c, char? d, bool useCulture)
        => d ?? (useCulture ? (c.Host.CurrentCulture.TextInfo.ListSeparator is { Length: > 0 } s ? s[0] : ',') : ',');
}

[Cmdlet(VerbsData.ConvertTo, "Csv", DefaultParameterSetName = "Delimiter")]
[OutputType(typeof(string))]
public sealed class ConvertToCsvCommand : PSCmdlet
{
    private List<string> _names;

    [Parameter(Mandatory = true, ValueFromPipeline = true, Position = 0)] public PSObject InputObject { get; set; }
    [Parameter(Position = 1, ParameterSetName = "Delimiter")] public char? Delimiter { get; set; }
    [Parameter(ParameterSetName = "UseCulture")] public SwitchParameter UseCulture { get; set; }
    [Parameter] [Alias("ITI")] public SwitchParameter IncludeTypeInformation { get; set; }
    [Parameter] [Alias("NTI")] public SwitchParameter NoTypeInformation { get; set; }
    [Parameter] public QuoteKind UseQuotes { get; set; } = QuoteKind.Always;
    [Parameter] public string[] QuoteFields { get; set; }
    [Parameter] public SwitchParameter NoHeader { get; set; }

    protected override void ProcessRecord()
    {
        if (InputObject == null) return;
        char d = CsvFormat.Delimiter(this, Delimiter, UseCulture);
        if (_names == null)
        {
            _names = CsvFormat.Names(InputObject);
            if (IncludeTypeInformation && !NoTypeInformation) WriteObject("#TYPE " + InputObject.TypeNames.FirstOrDefault());
            if (!NoHeader) WriteObject(CsvFormat.Header(_names, d, UseQuotes, QuoteFields));
        }
        WriteObject(CsvFormat.Line(InputObject, _names, d, UseQuotes, QuoteFields));
    }
}

[Cmdlet(VerbsData.ConvertFrom, "Csv", DefaultParameterSetName = "Delimiter")]
public sealed class ConvertFromCsvCommand : PSCmdlet
{
    private readonly StringBuilder _text = new();

    [Parameter(Mandatory = true, ValueFromPipeline = true, Position = 0)] public PSObject[] InputObject { get; set; }
    [Parameter(Position = 1, ParameterSetName = "Delimiter")] public char? Delimiter { get; set; }
    [Parameter(ParameterSetName = "UseCulture")] public SwitchParameter UseCulture { get; set; }
    [Parameter] [ValidateNotNullOrEmpty] public string[] Header { get; set; }

    protected override void ProcessRecord()
    {
        foreach (PSObject o in InputObject) _text.Append(o?.ToString()).Append('\n');
    }

    protected override void EndProcessing()
    {
        foreach (PSObject o in CsvFormat.Objects(new StringReader(_text.ToString()), CsvFormat.Delimiter(this, Delimiter, UseCulture), Header)) WriteObject(o);
    }
}

[Cmdlet(VerbsData.Import, "Csv", DefaultParameterSetName = "DelimiterPath")]
public sealed class ImportCsvCommand : PSCmdlet
{
    [Parameter(Position = 1, ParameterSetName = "DelimiterPath")] [Parameter(Position = 1, ParameterSetName = "DelimiterLiteralPath")] public char? Delimiter { get; set; }
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "DelimiterPath", Mandatory = true)]
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "CulturePath", Mandatory = true)]
    public string[] Path { get; set; }
    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = "DelimiterLiteralPath", Mandatory = true)]
    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = "CultureLiteralPath", Mandatory = true)]
    [Alias("PSPath", "LP")] public string[] LiteralPath { get; set; }
    [Parameter(ParameterSetName = "CulturePath", Mandatory = true)] [Parameter(ParameterSetName = "CultureLiteralPath", Mandatory = true)] public SwitchParameter UseCulture { get; set; }
    [Parameter] [ValidateNotNullOrEmpty] public string[] Header { get; set; }
    [Parameter] [EncodingCompletions] public object Encoding { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var (file, _, _) in Paths.Resolve(this, Path ?? LiteralPath, LiteralPath != null))
        {
            using var reader = new StreamReader(file, EncodingArg.Get(Encoding) ?? new UTF8Encoding(false), true);
            foreach (PSObject o in CsvFormat.Objects(reader, CsvFormat.Delimiter(this, Delimiter, UseCulture), Header)) WriteObject(o);
        }
    }
}

[Cmdlet(VerbsData.Export, "Csv", SupportsShouldProcess = true, DefaultParameterSetName = "Delimiter")]
public sealed class ExportCsvCommand : PSCmdlet
{
    private StreamWriter _writer;
    private List<string> _names;

    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] public PSObject InputObject { get; set; }
    [Parameter(Position = 0)] [Alias("Path")] public string LiteralPathOrPath { get; set; }
    [Parameter] [Alias("PSPath", "LP")] public string LiteralPath { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] [Alias("NoOverwrite")] public SwitchParameter NoClobber { get; set; }
    [Parameter] [EncodingCompletions] public object Encoding { get; set; }
    [Parameter] public SwitchParameter Append { get; set; }
    [Parameter(Position = 1, ParameterSetName = "Delimiter")] public char? Delimiter { get; set; }
    [Parameter(ParameterSetName = "UseCulture")] public SwitchParameter UseCulture { get; set; }
    [Parameter] [Alias("ITI")] public SwitchParameter IncludeTypeInformation { get; set; }
    [Parameter] [Alias("NTI")] public SwitchParameter NoTypeInformation { get; set; }
    [Parameter] public QuoteKind UseQuotes { get; set; } = QuoteKind.Always;
    [Parameter] public string[] QuoteFields { get; set; }
    [Parameter] public SwitchParameter NoHeader { get; set; }

    protected override void BeginProcessing()
    {
        string path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(LiteralPath ?? LiteralPathOrPath);
        if (NoClobber && File.Exists(path) && !Append)
        {
            ThrowTerminatingError(new ErrorRecord(new IOException($"The file '{path}' already exists."), "NoClobber", ErrorCategory.ResourceExists, path));
        }
        if (!ShouldProcess(path)) return;
        bool existing = Append && File.Exists(path) && new FileInfo(path).Length > 0;
        if (existing)
        {
            using var r = new StreamReader(path);
            var first = CsvFormat.Records(r, CsvFormat.Delimiter(this, Delimiter, UseCulture)).FirstOrDefault(rec => !rec[0].StartsWith("#TYPE", StringComparison.Ordinal));
            _names = first;
        }
        _writer = new StreamWriter(path, Append, EncodingArg.Get(Encoding) ?? new UTF8Encoding(false));
    }

    protected override void ProcessRecord()
    {
        if (_writer == null || InputObject == null) return;
        char d = CsvFormat.Delimiter(this, Delimiter, UseCulture);
        if (_names == null)
        {
            _names = CsvFormat.Names(InputObject);
            if (IncludeTypeInformation && !NoTypeInformation) _writer.WriteLine("#TYPE " + InputObject.TypeNames.FirstOrDefault());
            if (!NoHeader) _writer.WriteLine(CsvFormat.Header(_names, d, UseQuotes, QuoteFields));
        }
        _writer.WriteLine(CsvFormat.Line(InputObject, _names, d, UseQuotes, QuoteFields));
    }

    protected override void EndProcessing() { _writer?.Dispose(); _writer = null; }
}

[Cmdlet(VerbsData.Export, "Clixml", SupportsShouldProcess = true, DefaultParameterSetName = "ByPath")]
public sealed class ExportClixmlCommand : PSCmdlet
{
    private readonly List<PSObject> _items = new();

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "ByPath")] public string Path { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "ByLiteralPath")] [Alias("PSPath", "LP")] public string LiteralPath { get; set; }
    [Parameter(Mandatory = true, ValueFromPipeline = true)] [AllowNull] public PSObject InputObject { get; set; }
    [Parameter] [ValidateRange(1, int.MaxValue)] public int Depth { get; set; } = 2;
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] [Alias("NoOverwrite")] public SwitchParameter NoClobber { get; set; }
    [Parameter] [EncodingCompletions] public object Encoding { get; set; }

    protected override void ProcessRecord() => _items.Add(InputObject);

    protected override void EndProcessing()
    {
        string path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path ?? LiteralPath);
        if (!ShouldProcess(path)) return;
        object o = _items.Count == 1 ? _items[0] : _items.ToArray();
        string xml = PSSerializer.Serialize(o, Depth);
        File.WriteAllText(path, xml, EncodingArg.Get(Encoding) ?? new UTF8Encoding(false));
    }
}

[Cmdlet(VerbsData.Import, "Clixml", DefaultParameterSetName = "ByPath")]
public sealed class ImportClixmlCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "ByPath")] public string[] Path { get; set; }
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "ByLiteralPath")] [Alias("PSPath", "LP")] public string[] LiteralPath { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var (file, _, _) in Paths.Resolve(this, Path ?? LiteralPath, LiteralPath != null))
        {
            object o = PSSerializer.Deserialize(File.ReadAllText(file));
            WriteObject(o, true);
        }
    }
}
