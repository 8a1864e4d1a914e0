using System.Collections;
using System.Collections.ObjectModel;
using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Provider;
using System.Text;

namespace Microsoft.PowerShell.Commands;

public enum TestPathType { Any, Container, Leaf }

/// <summary>Path cmdlets: -Path (wildcards) or -LiteralPath, on the engine's providers (SessionState.InvokeProvider).</summary>
public abstract class PathCommandBase : PSCmdlet
{
    public abstract string[] Path { get; set; }
    public abstract string[] LiteralPath { get; set; }
    protected bool IsLiteral => LiteralPath != null;
    protected string[] Paths => LiteralPath ?? Path;

    protected void WriteProviderError(Exception e, string id, ErrorCategory category, object target)
    {
        if (e is System.Reflection.TargetInvocationException && e.InnerException != null) e = e.InnerException;
        if (e is IContainsErrorRecord c && c.ErrorRecord != null) WriteError(new ErrorRecord(c.ErrorRecord, e));
        else WriteError(new ErrorRecord(e, id, category, target));
    }
}

[Cmdlet(VerbsCommon.Get, "Content", DefaultParameterSetName = "Path")]
public sealed class GetContentCommand : PathCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ParameterSetName = "Path", ValueFromPipelineByPropertyName = true)] public override string[] Path { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public override string[] LiteralPath { get; set; }
    [Parameter(ValueFromPipelineByPropertyName = true)] public long ReadCount { get; set; } = 1;
    [Parameter(ValueFromPipelineByPropertyName = true)] [Alias("First", "Head")] public long TotalCount { get; set; } = -1;
    [Parameter(ValueFromPipelineByPropertyName = true)] [Alias("Last")] [ValidateRange(0, int.MaxValue)] public int Tail { get; set; } = -1;
    [Parameter] public string Filter { get; set; }
    [Parameter] public string[] Include { get; set; }
    [Parameter] public string[] Exclude { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] public SwitchParameter Raw { get; set; }
    [Parameter] public string Delimiter { get; set; }
    [Parameter] public SwitchParameter Wait { get; set; }
    [Parameter] [EncodingCompletions] public object Encoding { get; set; }
    [Parameter] public SwitchParameter AsByteStream { get; set; }
    [Parameter] public string Stream { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var (path, provider, _) in global::Microsoft.PowerShell.Commands.Paths.Resolve(this, Paths, IsLiteral))
        {
            if (!global::Microsoft.PowerShell.Commands.Paths.IsFileSystem(provider))
            {
                ReadProvider(path, provider);
                continue;
            }
            if (Directory.Exists(path))
            {
                WriteError(new ErrorRecord(new UnauthorizedAccessException($"Unable to get content because it is a directory: '{path}'. Please use 'Get-ChildItem' instead."),
                    "GetContentReaderUnauthorizedAccessError", ErrorCategory.PermissionDenied, path));
                continue;
            }
            try
            {
                if (AsByteStream)
                {
                    byte[] bytes = File.ReadAllBytes(path);
                    IEnumerable<byte> seq = TotalCount >= 0 ? bytes.Take((int)TotalCount) : bytes;
                    if (Raw) WriteObject(seq.ToArray()); else foreach (byte b in seq) WriteObject(b);
                    continue;
                }
                System.Text.Encoding enc = EncodingArg.Get(Encoding) ?? new UTF8Encoding(false);
                string text;
                using (var reader = new StreamReader(path, enc, detectEncodingFromByteOrderMarks: true)) text = reader.ReadToEnd();
                if (Raw)
                {
                    if (text.Length == 0) continue;
                    WriteObject(global::Microsoft.PowerShell.Commands.Paths.AddPathNotes(this, text, path, provider, 1));
                    continue;
                }
                List<string> lines = Split(text);
                if (Tail >= 0) lines = lines.Skip(Math.Max(0, lines.Count - Tail)).ToList();
                if (TotalCount >= 0) lines = lines.Take((int)TotalCount).ToList();
                Emit(lines, path, provider);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                WriteError(new ErrorRecord(e, "GetContentReaderIOError", ErrorCategory.ReadError, path));
            }
        }
    }

    private List<string> Split(string text)
    {
        var lines = new List<string>();
        if (Delimiter != null)
        {
            int start = 0, i;
            while ((i = text.IndexOf(Delimiter, start, StringComparison.Ordinal)) >= 0)
            {
                lines.Add(text.Substring(start, i + Delimiter.Length - start));
                start = i + Delimiter.Length;
            }
            if (start < text.Length) lines.Add(text.Substring(start));
            return lines;
        }
        using var sr = new StringReader(text);
        string line;
        while ((line = sr.ReadLine()) != null) lines.Add(line);
        return lines;
    }

    private void Emit(List<string> lines, string path, ProviderInfo provider)
    {
        if (ReadCount <= 0)
        {
            WriteObject(lines.ToArray());
            return;
        }
        if (ReadCount > 1)
        {
            for (int i = 0; i < lines.Count; i += (int)ReadCount) WriteObject(lines.Skip(i).Take((int)ReadCount).ToArray());
            return;
        }
        long n = 0;
        foreach (string l in lines) WriteObject(global::Microsoft.PowerShell.Commands.Paths.AddPathNotes(this, l, path, provider, ++n));
    }

    private void ReadProvider(string path, ProviderInfo provider)
    {
        try
        {
            var readers = SessionState.InvokeProvider.Content.GetReader(new[] { provider.Name + "::" + path }, Force, true);
            foreach (IContentReader r in readers)
            {
                using (r)
                {
                    IList block;
                    while ((block = r.Read(1)) != null && block.Count > 0)
                    {
                        foreach (object o in block) WriteObject(o);
                    }
                }
            }
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteProviderError(e, "GetContentReaderError", ErrorCategory.ReadError, path);
        }
    }
}

public abstract class WriteContentCommandBase : PathCommandBase
{
    private readonly HashSet<string> _started = new(StringComparer.Ordinal);

    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] [AllowNull, AllowEmptyCollection] public object[] Value { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }
    [Parameter] public string Filter { get; set; }
    [Parameter] public string[] Include { get; set; }
    [Parameter] public string[] Exclude { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] public SwitchParameter NoNewline { get; set; }
    [Parameter] [EncodingCompletions] public object Encoding { get; set; }
    [Parameter] public SwitchParameter AsByteStream { get; set; }
    [Parameter] public string Stream { get; set; }

    protected abstract bool Truncate { get; }
    protected abstract string Action { get; }

    protected override void ProcessRecord()
    {
        foreach (var (path, provider, _) in global::Microsoft.PowerShell.Commands.Paths.Resolve(this, Paths, IsLiteral, allowNonexistent: true))
        {
            if (!ShouldProcess("Path: " + path, Action)) continue;
            try
            {
                if (!global::Microsoft.PowerShell.Commands.Paths.IsFileSystem(provider))
                {
                    string value = Value == null ? null : Value.Length == 1 ? LanguagePrimitives.ConvertTo<string>(Value[0]) : string.Join(" ", Value.Select(v => LanguagePrimitives.ConvertTo<string>(v)));
                    SessionState.InvokeProvider.Item.Set(provider.Name + "::" + path, value);
                    continue;
                }
                bool first = _started.Add(path);
                if (first && Truncate && File.Exists(path)) File.WriteAllBytes(path, Array.Empty<byte>());
                string dir = System.IO.Path.GetDirectoryName(path);
                if (!string.IsNullOrEmpty(dir) && !Directory.Exists(dir))
                {
                    throw new DirectoryNotFoundException($"Could not find a part of the path '{path}'.");
                }
                if (AsByteStream)
                {
                    using var fs = new FileStream(path, FileMode.Append);
                    foreach (object v in Value ?? Array.Empty<object>())
                    {
                        object b = v is PSObject p ? p.BaseObject : v;
                        if (b is byte[] arr) fs.Write(arr); else fs.WriteByte(LanguagePrimitives.ConvertTo<byte>(b));
                    }
                }
                else
                {
                    System.Text.Encoding enc = EncodingArg.Get(Encoding) ?? new UTF8Encoding(false);
                    bool writeBom = first && (!File.Exists(path) || new FileInfo(path).Length == 0);
                    var sb = new StringBuilder();
                    foreach (object v in Value ?? new object[] { null })
                    {
                        object b = v is PSObject p ? p.BaseObject : v;
                        if (b is IEnumerable en && b is not string)
                        {
                            foreach (object x in en) { sb.Append(LanguagePrimitives.ConvertTo<string>(x)); if (!NoNewline) sb.Append(Environment.NewLine); }
                        }
                        else { sb.Append(LanguagePrimitives.ConvertTo<string>(v)); if (!NoNewline) sb.Append(Environment.NewLine); }
                    }
                    using var fs = new FileStream(path, FileMode.Append);
                    byte[] preamble = enc.GetPreamble();
                    if (writeBom && preamble.Length > 0) fs.Write(preamble);
                    fs.Write(enc.GetBytes(sb.ToString()));
                }
                if (PassThru) WriteObject(Value, true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ProviderInvocationException or NotSupportedException)
            {
                WriteProviderError(e, "GetContentWriterIOError", ErrorCategory.WriteError, path);
            }
        }
    }
}

[Cmdlet(VerbsCommon.Set, "Content", DefaultParameterSetName = "Path", SupportsShouldProcess = true)]
public sealed class SetContentCommand : WriteContentCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ParameterSetName = "Path", ValueFromPipelineByPropertyName = true)] public override string[] Path { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public override string[] LiteralPath { get; set; }
    protected override bool Truncate => true;
    protected override string Action => "Set Content";
}

[Cmdlet(VerbsCommon.Add, "Content", DefaultParameterSetName = "Path", SupportsShouldProcess = true)]
public sealed class AddContentCommand : WriteContentCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ParameterSetName = "Path", ValueFromPipelineByPropertyName = true)] public override string[] Path { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public override string[] LiteralPath { get; set; }
    protected override bool Truncate => false;
    protected override string Action => "Add Content";
}

[Cmdlet(VerbsCommon.Clear, "Content", DefaultParameterSetName = "Path", SupportsShouldProcess = true)]
public sealed class ClearContentCommand : PathCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ParameterSetName = "Path", ValueFromPipelineByPropertyName = true)] public override string[] Path { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public override string[] LiteralPath { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var (path, provider, _) in global::Microsoft.PowerShell.Commands.Paths.Resolve(this, Paths, IsLiteral))
        {
            if (ShouldProcess(path, "Clear Content")) File.WriteAllBytes(path, Array.Empty<byte>());
        }
    }
}

[Cmdlet(VerbsDiagnostic.Test, "Path", DefaultParameterSetName = "Path")]
[OutputType(typeof(bool))]
public sealed class TestPathCommand : PathCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ParameterSetName = "Path", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [AllowNull, AllowEmptyCollection, AllowEmptyString]
    public override string[] Path { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")] [AllowNull, AllowEmptyCollection, AllowEmptyString]
    public override string[] LiteralPath { get; set; }

    [Parameter] public string Filter { get; set; }
    [Parameter] public string[] Include { get; set; }
    [Parameter] public string[] Exclude { get; set; }
    [Parameter] [Alias("Type")] public TestPathType PathType { get; set; } = TestPathType.Any;
    [Parameter] public SwitchParameter IsValid { get; set; }
    [Parameter] public DateTime? OlderThan { get; set; }
    [Parameter] public DateTime? NewerThan { get; set; }

    protected override void ProcessRecord()
    {
        if (Paths == null || Paths.Length == 0) { WriteObject(false); return; }
        foreach (string p in Paths)
        {
            if (string.IsNullOrWhiteSpace(p)) { WriteObject(false); continue; }
            bool result = false;
            try
            {
                if (IsValid)
                {
                    result = SessionState.Path.IsValid(p);
                }
                else
                {
                    string path = IsLiteral ? WildcardPattern.Escape(p) : p;
                    result = SessionState.InvokeProvider.Item.Exists(path, false, false);
                    if (result && PathType != TestPathType.Any)
                    {
                        bool container = SessionState.InvokeProvider.Item.IsContainer(path);
                        result = PathType == TestPathType.Container ? container : !container;
                    }
                    if (result && (OlderThan.HasValue || NewerThan.HasValue))
                    {
                        string provider = SessionState.Path.GetUnresolvedProviderPathFromPSPath(p);
                        DateTime t = File.GetLastWriteTime(provider);
                        if (OlderThan.HasValue && t >= OlderThan.Value) result = false;
                        if (NewerThan.HasValue && t <= NewerThan.Value) result = false;
                    }
                }
            }
            catch (Exception e) when (e is DriveNotFoundException or ProviderNotFoundException or ItemNotFoundException or PSArgumentException or ProviderInvocationException or NotSupportedException or ArgumentException)
            {
                result = false;
            }
            WriteObject(result);
        }
    }
}

[Cmdlet(VerbsDiagnostic.Resolve, "Path", DefaultParameterSetName = "Path")]
public sealed class ResolvePathCommand : PathCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ParameterSetName = "Path", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] public override string[] Path { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public override string[] LiteralPath { get; set; }
    [Parameter] public SwitchParameter Relative { get; set; }
    [Parameter] public string RelativeBasePath { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        foreach (string p in Paths)
        {
            Collection<PathInfo> resolved;
            try
            {
                string path = IsLiteral ? WildcardPattern.Escape(p) : p;
                resolved = SessionState.Path.GetResolvedPSPathFromPSPath(path);
                if (resolved.Count == 0) throw new ItemNotFoundException($"Cannot find path '{p}' because it does not exist.");
            }
            catch (Exception e) when (e is ItemNotFoundException or DriveNotFoundException or ProviderNotFoundException or PSArgumentException or ProviderInvocationException)
            {
                if (e is ItemNotFoundException && (e as IContainsErrorRecord)?.ErrorRecord?.FullyQualifiedErrorId?.StartsWith("PathNotFound", StringComparison.Ordinal) != true)
                {
                    string full = SessionState.Path.GetUnresolvedProviderPathFromPSPath(p);
                    WriteError(new ErrorRecord(new ItemNotFoundException($"Cannot find path '{full}' because it does not exist."), "PathNotFound", ErrorCategory.ObjectNotFound, p));
                }
                else WriteProviderError(e, "PathNotFound", ErrorCategory.ObjectNotFound, p);
                continue;
            }
            foreach (PathInfo info in resolved)
            {
                if (Relative || RelativeBasePath != null)
                {
                    string basePath = RelativeBasePath != null
                        ? SessionState.Path.GetUnresolvedProviderPathFromPSPath(RelativeBasePath)
                        : SessionState.Path.CurrentFileSystemLocation.ProviderPath;
                    string rel = System.IO.Path.GetRelativePath(basePath, info.ProviderPath);
                    if (!rel.StartsWith("..", StringComparison.Ordinal) && !System.IO.Path.IsPathRooted(rel)) rel = "." + System.IO.Path.DirectorySeparatorChar + rel;
                    WriteObject(Relative ? rel : info);
                }
                else WriteObject(info);
            }
        }
    }
}

[Cmdlet(VerbsData.Convert, "Path", DefaultParameterSetName = "Path")]
public sealed class ConvertPathCommand : PathCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ParameterSetName = "Path", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] public override string[] Path { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public override string[] LiteralPath { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var (path, _, _) in global::Microsoft.PowerShell.Commands.Paths.Resolve(this, Paths, IsLiteral)) WriteObject(path);
    }
}

[Cmdlet(VerbsCommon.Join, "Path")]
[OutputType(typeof(string))]
public sealed class JoinPathCommand : PSCmdlet
{
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] [Alias("PSPath")] public string[] Path { get; set; }
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)] [AllowNull, AllowEmptyString] public string ChildPath { get; set; }
    [Parameter(Position = 2, ValueFromRemainingArguments = true, ValueFromPipelineByPropertyName = true)] [AllowNull, AllowEmptyString] public string[] AdditionalChildPath { get; set; } = Array.Empty<string>();
    [Parameter] public SwitchParameter Resolve { get; set; }

    protected override void ProcessRecord()
    {
        foreach (string p in Path)
        {
            string joined = SessionState.Path.Combine(p, ChildPath ?? string.Empty);
            foreach (string extra in AdditionalChildPath) joined = SessionState.Path.Combine(joined, extra ?? string.Empty);
            if (Resolve)
            {
                try
                {
                    foreach (PathInfo r in SessionState.Path.GetResolvedPSPathFromPSPath(joined)) WriteObject(r.Path);
                }
                catch (ItemNotFoundException e)
                {
                    WriteError(new ErrorRecord(e, "PathNotFound", ErrorCategory.ObjectNotFound, joined));
                }
            }
            else WriteObject(joined);
        }
    }
}

[Cmdlet(VerbsCommon.Split, "Path", DefaultParameterSetName = "ParentSet")]
[OutputType(typeof(string), typeof(bool))]
public sealed class SplitPathCommand : PSCmdlet
{
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "ParentSet")]
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "LeafSet")]
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "LeafBaseSet")]
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "ExtensionSet")]
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "QualifierSet")]
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "NoQualifierSet")]
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "IsAbsoluteSet")]
    public string[] Path { get; set; }

    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "LiteralPathSet")] [Alias("PSPath", "LP")] public string[] LiteralPath { get; set; }
    [Parameter(ParameterSetName = "ParentSet")] public SwitchParameter Parent { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LeafSet")] public SwitchParameter Leaf { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LeafBaseSet")] public SwitchParameter LeafBase { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "ExtensionSet")] public SwitchParameter Extension { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "QualifierSet")] public SwitchParameter Qualifier { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "NoQualifierSet")] public SwitchParameter NoQualifier { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "IsAbsoluteSet")] public SwitchParameter IsAbsolute { get; set; }
    [Parameter] public SwitchParameter Resolve { get; set; }
    [Parameter] public SwitchParameter Credential { get; set; }

    protected override void ProcessRecord()
    {
        foreach (string input in Path ?? LiteralPath)
        {
            IEnumerable<string> paths = new[] { input };
            if (Resolve)
            {
                try { paths = SessionState.Path.GetResolvedPSPathFromPSPath(input).Select(r => r.Path).ToList(); }
                catch (ItemNotFoundException e) { WriteError(new ErrorRecord(e, "PathNotFound", ErrorCategory.ObjectNotFound, input)); continue; }
            }
            foreach (string p in paths)
            {
                int colon = p.IndexOf(':');
                bool hasQualifier = colon > 0 && !p.Substring(0, colon).Contains('/') && !p.Substring(0, colon).Contains('\\');
                switch (ParameterSetName)
                {
                    case "IsAbsoluteSet": WriteObject(SessionState.Path.IsPSAbsolute(p, out _)); break;
                    case "QualifierSet":
                        if (!hasQualifier)
                        {
                            WriteError(new ErrorRecord(new PSArgumentException($"Cannot parse path because path '{p}' does not have a qualifier specified."),
                                "ParsePathFormatError", ErrorCategory.InvalidArgument, p));
                        }
                        else WriteObject(p.Substring(0, colon + 1));
                        break;
                    case "NoQualifierSet": WriteObject(hasQualifier ? p.Substring(colon + 1) : p); break;
                    case "LeafSet": WriteObject(Leafof(p)); break;
                    case "LeafBaseSet": WriteObject(System.IO.Path.GetFileNameWithoutExtension(Leafof(p))); break;
                    case "ExtensionSet": WriteObject(System.IO.Path.GetExtension(Leafof(p))); break;
                    default:
                        string parent = SessionState.Path.ParseParent(p, string.Empty);
                        WriteObject(parent);
                        break;
                }
            }
        }
    }

    private string Leafof(string p)
    {
        string trimmed = p.TrimEnd('/', '\\');
        if (trimmed.Length == 0) return string.Empty;
        return SessionState.Path.ParseChildName(trimmed);
    }
}

[Cmdlet(VerbsCommon.Get, "Item", DefaultParameterSetName = "Path")]
public sealed class GetItemCommand : PathCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ParameterSetName = "Path", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] public override string[] Path { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public override string[] LiteralPath { get; set; }
    [Parameter] public string Filter { get; set; }
    [Parameter] public string[] Include { get; set; }
    [Parameter] public string[] Exclude { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] public string[] Stream { get; set; }

    protected override void ProcessRecord()
    {
        foreach (string p in Paths)
        {
            try
            {
                var items = SessionState.InvokeProvider.Item.Get(new[] { p }, Force, IsLiteral);
                if (items.Count == 0 && !IsLiteral && WildcardPattern.ContainsWildcardCharacters(p)) continue;
                WriteObject(items, true);
            }
            catch (Exception e) when (e is ItemNotFoundException or DriveNotFoundException or ProviderNotFoundException or ProviderInvocationException or PSArgumentException)
            {
                WriteProviderError(e, "PathNotFound", ErrorCategory.ObjectNotFound, p);
            }
        }
    }
}

[Cmdlet(VerbsCommon.Get, "ChildItem", DefaultParameterSetName = "Items")]
public sealed class GetChildItemCommand : PathCommandBase
{
    [Parameter(Position = 0, ParameterSetName = "Items", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] public override string[] Path { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LiteralItems", ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public override string[] LiteralPath { get; set; }
    [Parameter(Position = 1)] public string Filter { get; set; }
    [Parameter] public string[] Include { get; set; }
    [Parameter] public string[] Exclude { get; set; }
    [Parameter] [Alias("s", "r")] public SwitchParameter Recurse { get; set; }
    [Parameter] public uint Depth { get; set; } = uint.MaxValue;
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] public SwitchParameter Name { get; set; }
    [Parameter] [Alias("ad", "d")] public SwitchParameter Directory { get; set; }
    [Parameter] [Alias("af")] public SwitchParameter File { get; set; }
    [Parameter] [Alias("ah", "h")] public SwitchParameter Hidden { get; set; }
    [Parameter] public SwitchParameter FollowSymlink { get; set; }

    protected override void ProcessRecord()
    {
        bool recurse = Recurse || MyInvocation.BoundParameters.ContainsKey(nameof(Depth));
        var include = Include?.Select(i => new WildcardPattern(i, WildcardOptions.IgnoreCase)).ToArray();
        var exclude = Exclude?.Select(i => new WildcardPattern(i, WildcardOptions.IgnoreCase)).ToArray();
        var filter = Filter != null ? new WildcardPattern(Filter, WildcardOptions.IgnoreCase) : null;
        foreach (string p in Paths ?? new[] { "." })
        {
            try
            {
                bool literal = IsLiteral;
                string path = p;
                Collection<PSObject> items;
                if (!literal && WildcardPattern.ContainsWildcardCharacters(p) && !recurse)
                {
                    items = new Collection<PSObject>();
                    foreach (PSObject item in SessionState.InvokeProvider.Item.Get(new[] { p }, Force, false))
                    {
                        if (LanguagePrimitives.IsTrue(item.Properties["PSIsContainer"]?.Value) && !(include != null))
                        {
                            string ps = item.Properties["PSPath"]?.Value as string;
                            foreach (PSObject child in SessionState.InvokeProvider.ChildItem.Get(new[] { ps }, false, Force, true)) items.Add(child);
                        }
                        else items.Add(item);
                    }
                }
                else
                {
                    items = recurse && Depth != uint.MaxValue
                        ? SessionState.InvokeProvider.ChildItem.Get(new[] { path }, true, Depth, Force, literal)
                        : SessionState.InvokeProvider.ChildItem.Get(new[] { path }, recurse, Force, literal);
                }
                foreach (PSObject item in items)
                {
                    string name = item.Properties["PSChildName"]?.Value as string ?? item.Properties["Name"]?.Value as string ?? item.ToString();
                    bool isContainer = LanguagePrimitives.IsTrue(item.Properties["PSIsContainer"]?.Value);
                    if (Directory && !isContainer) continue;
                    if (File && isContainer) continue;
                    if (filter != null && !filter.IsMatch(name)) continue;
                    if (include != null && !include.Any(i => i.IsMatch(name))) continue;
                    if (exclude != null && exclude.Any(i => i.IsMatch(name))) continue;
                    if (Hidden && item.BaseObject is FileSystemInfo fsi && !fsi.Attributes.HasFlag(FileAttributes.Hidden)) continue;
                    if (Name)
                    {
                        string basePath = SessionState.Path.GetUnresolvedProviderPathFromPSPath(p);
                        string full = (item.BaseObject as FileSystemInfo)?.FullName;
                        WriteObject(full != null ? System.IO.Path.GetRelativePath(basePath, full) : name);
                    }
                    else WriteObject(item);
                }
            }
            catch (Exception e) when (e is ItemNotFoundException or DriveNotFoundException or ProviderNotFoundException or ProviderInvocationException or PSArgumentException)
            {
                WriteProviderError(e, "PathNotFound", ErrorCategory.ObjectNotFound, p);
            }
        }
    }
}

[Cmdlet(VerbsCommon.New, "Item", DefaultParameterSetName = "pathSet", SupportsShouldProcess = true)]
public sealed class NewItemCommand : PSCmdlet
{
    [Parameter(Position = 0, ParameterSetName = "pathSet", Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Parameter(Position = 0, ParameterSetName = "nameSet", ValueFromPipelineByPropertyName = true)]
    public string[] Path { get; set; }

    [Parameter(ParameterSetName = "nameSet", Mandatory = true, ValueFromPipelineByPropertyName = true)] [AllowNull, AllowEmptyString] public string Name { get; set; }
    [Parameter(ValueFromPipelineByPropertyName = true)] [Alias("Type")] public string ItemType { get; set; }
    [Parameter(ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] [Alias("Target")] public object Value { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        string[] paths = Path ?? new[] { "." };
        foreach (string p in paths)
        {
            string target = Name != null ? SessionState.Path.Combine(p, Name) : p;
            if (!ShouldProcess("Destination: " + SessionState.Path.GetUnresolvedProviderPathFromPSPath(target), "Create " + (ItemType ?? "File"))) continue;
            try
            {
                string type = ItemType;
                string providerPath = SessionState.Path.GetUnresolvedProviderPathFromPSPath(target, out ProviderInfo provider, out _);
                if (global::Microsoft.PowerShell.Commands.Paths.IsFileSystem(provider))
                {
                    type ??= "File";
                    if (type.Equals("Directory", StringComparison.OrdinalIgnoreCase) && Force && System.IO.Directory.Exists(providerPath))
                    {
                        WriteObject(new DirectoryInfo(providerPath));
                        continue;
                    }
                    if (Force)
                    {
                        string parent = System.IO.Path.GetDirectoryName(providerPath);
                        if (!string.IsNullOrEmpty(parent)) System.IO.Directory.CreateDirectory(parent);
                    }
                }
                var created = Name != null
                    ? SessionState.InvokeProvider.Item.New(new[] { p }, Name, type, Value, Force)
                    : SessionState.InvokeProvider.Item.New(new[] { p }, null, type, Value, Force);
                WriteObject(created, true);
            }
            catch (Exception e) when (e is IOException or ProviderInvocationException or ItemNotFoundException or DriveNotFoundException or PSArgumentException or UnauthorizedAccessException or SessionStateException)
            {
                if (e is IContainsErrorRecord c && c.ErrorRecord != null) WriteError(new ErrorRecord(c.ErrorRecord, e));
                else WriteError(new ErrorRecord(e, "NewItemIOError", ErrorCategory.WriteError, target));
            }
        }
    }
}

[Cmdlet(VerbsCommon.Remove, "Item", DefaultParameterSetName = "Path", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
public sealed class RemoveItemCommand : PathCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ParameterSetName = "Path", ValueFromPipelineByPropertyName = true)] public override string[] Path { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public override string[] LiteralPath { get; set; }
    [Parameter] public string Filter { get; set; }
    [Parameter] public string[] Include { get; set; }
    [Parameter] public string[] Exclude { get; set; }
    [Parameter] [Alias("r")] public SwitchParameter Recurse { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] public string[] Stream { get; set; }

    protected override void ProcessRecord()
    {
        foreach (string p in Paths)
        {
            try
            {
                var resolved = IsLiteral
                    ? new Collection<string> { SessionState.Path.GetUnresolvedProviderPathFromPSPath(p) }
                    : SessionState.Path.GetResolvedProviderPathFromPSPath(p, out _);
                foreach (string r in resolved)
                {
                    if (!ShouldProcess(r, "Remove " + (System.IO.Directory.Exists(r) ? "Directory" : "File"))) continue;
                    if (System.IO.Directory.Exists(r) && !Recurse && System.IO.Directory.EnumerateFileSystemEntries(r).Any())
                    {
                        if (!ShouldContinue($"The item at {r} has children and the Recurse parameter was not specified. If you continue, all children will be removed with the item. Are you sure you want to continue?", "Confirm")) continue;
                    }
                    SessionState.InvokeProvider.Item.Remove(new[] { IsLiteral ? p : WildcardPattern.Escape(r) }, true, Force, IsLiteral);
                }
            }
            catch (Exception e) when (e is ItemNotFoundException or DriveNotFoundException or ProviderInvocationException or PSArgumentException or IOException or UnauthorizedAccessException)
            {
                WriteProviderError(e, "PathNotFound", ErrorCategory.ObjectNotFound, p);
            }
        }
    }
}

[Cmdlet(VerbsCommon.Copy, "Item", DefaultParameterSetName = "Path", SupportsShouldProcess = true)]
public sealed class CopyItemCommand : PathCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ParameterSetName = "Path", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] public override string[] Path { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public override string[] LiteralPath { get; set; }
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)] public string Destination { get; set; }
    [Parameter] public SwitchParameter Container { get; set; } = true;
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] public string Filter { get; set; }
    [Parameter] public string[] Include { get; set; }
    [Parameter] public string[] Exclude { get; set; }
    [Parameter] public SwitchParameter Recurse { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (string p in Paths)
        {
            if (!ShouldProcess("Item: " + p + " Destination: " + Destination, "Copy Item")) continue;
            try
            {
                var result = SessionState.InvokeProvider.Item.Copy(new[] { p }, Destination ?? ".", Recurse,
                    Container ? CopyContainers.CopyTargetContainer : CopyContainers.CopyChildrenOfTargetContainer, Force, IsLiteral);
                if (PassThru) WriteObject(result, true);
            }
            catch (Exception e) when (e is ItemNotFoundException or DriveNotFoundException or ProviderInvocationException or PSArgumentException or IOException)
            {
                WriteProviderError(e, "CopyItemError", ErrorCategory.WriteError, p);
            }
        }
    }
}

[Cmdlet(VerbsCommon.Move, "Item", DefaultParameterSetName = "Path", SupportsShouldProcess = true)]
public sealed class MoveItemCommand : PathCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ParameterSetName = "Path", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] public override string[] Path { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public override string[] LiteralPath { get; set; }
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)] public string Destination { get; set; } = ".";
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (string p in Paths)
        {
            if (!ShouldProcess("Item: " + p + " Destination: " + Destination, "Move Item")) continue;
            try
            {
                var result = SessionState.InvokeProvider.Item.Move(new[] { p }, Destination, Force, IsLiteral);
                if (PassThru) WriteObject(result, true);
            }
            catch (Exception e) when (e is ItemNotFoundException or DriveNotFoundException or ProviderInvocationException or PSArgumentException or IOException)
            {
                WriteProviderError(e, "MoveItemError", ErrorCategory.WriteError, p);
            }
        }
    }
}

[Cmdlet(VerbsCommon.Rename, "Item", DefaultParameterSetName = "ByPath", SupportsShouldProcess = true)]
public sealed class RenameItemCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "ByPath")] public string Path { get; set; }
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "ByLiteralPath")] [Alias("PSPath", "LP")] public string LiteralPath { get; set; }
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)] public string NewName { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        string p = Path ?? WildcardPattern.Escape(LiteralPath);
        if (!ShouldProcess("Item: " + p + " Destination: " + NewName, "Rename Item")) return;
        try
        {
            var result = SessionState.InvokeProvider.Item.Rename(p, NewName, Force);
            if (PassThru) WriteObject(result, true);
        }
        catch (Exception e) when (e is ItemNotFoundException or ProviderInvocationException or PSArgumentException or IOException)
        {
            WriteError(new ErrorRecord(e, "RenameItemError", ErrorCategory.WriteError, p));
        }
    }
}

[Cmdlet(VerbsCommon.Set, "Item", DefaultParameterSetName = "Path", SupportsShouldProcess = true)]
public sealed class SetItemCommand : PathCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ParameterSetName = "Path", ValueFromPipelineByPropertyName = true)] public override string[] Path { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public override string[] LiteralPath { get; set; }
    [Parameter(Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] public object Value { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (string p in Paths)
        {
            if (!ShouldProcess(p, "Set Item")) continue;
            try
            {
                var result = SessionState.InvokeProvider.Item.Set(new[] { p }, Value, Force, IsLiteral);
                if (PassThru) WriteObject(result, true);
            }
            catch (Exception e) when (e is ItemNotFoundException or ProviderInvocationException or PSArgumentException or SessionStateException)
            {
                WriteProviderError(e, "SetItemError", ErrorCategory.WriteError, p);
            }
        }
    }
}

[Cmdlet(VerbsCommon.Get, "Location", DefaultParameterSetName = "Location")]
public sealed class GetLocationCommand : PSCmdlet
{
    [Parameter(ParameterSetName = "Stack")] public SwitchParameter Stack { get; set; }
    [Parameter(ParameterSetName = "Stack")] public string[] StackName { get; set; }
    [Parameter(ParameterSetName = "Location")] public string[] PSProvider { get; set; }
    [Parameter(ParameterSetName = "Location")] public string[] PSDrive { get; set; }

    protected override void ProcessRecord()
    {
        if (Stack) { WriteObject(SessionState.Path.LocationStack(StackName?.FirstOrDefault())); return; }
        WriteObject(SessionState.Path.CurrentLocation);
    }
}

[Cmdlet(VerbsCommon.Set, "Location", DefaultParameterSetName = "Path")]
public sealed class SetLocationCommand : PSCmdlet
{
    [Parameter(Position = 0, ParameterSetName = "Path", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] public string Path { get; set; }
    [Parameter(ParameterSetName = "LiteralPath", Mandatory = true, ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public string LiteralPath { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }
    [Parameter(ParameterSetName = "Stack", ValueFromPipelineByPropertyName = true)] public string StackName { get; set; }

    protected override void ProcessRecord()
    {
        try
        {
            PathInfo result;
            if (ParameterSetName == "Stack") { WriteObject(SessionState.Path.SetDefaultLocationStack(StackName)); return; }
            string p = LiteralPath != null ? WildcardPattern.Escape(LiteralPath) : Path ?? "~";
            if (p == "-" || p == "+") p = "~";
            result = SessionState.Path.SetLocation(p);
            if (PassThru) WriteObject(result);
        }
        catch (Exception e) when (e is ItemNotFoundException or DriveNotFoundException or PSArgumentException or ProviderInvocationException or PSInvalidOperationException)
        {
            if (e is IContainsErrorRecord c && c.ErrorRecord != null) WriteError(new ErrorRecord(c.ErrorRecord, e));
            else WriteError(new ErrorRecord(e, "PathNotFound", ErrorCategory.ObjectNotFound, Path));
        }
    }
}

[Cmdlet(VerbsCommon.Push, "Location", DefaultParameterSetName = "Path")]
public sealed class PushLocationCommand : PSCmdlet
{
    [Parameter(Position = 0, ParameterSetName = "Path", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] public string Path { get; set; }
    [Parameter(ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public string LiteralPath { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }
    [Parameter(ValueFromPipelineByPropertyName = true)] public string StackName { get; set; }

    protected override void ProcessRecord()
    {
        SessionState.Path.PushCurrentLocation(StackName ?? string.Empty);
        string p = LiteralPath != null ? WildcardPattern.Escape(LiteralPath) : Path;
        if (p != null)
        {
            try
            {
                var r = SessionState.Path.SetLocation(p);
                if (PassThru) WriteObject(r);
            }
            catch (Exception e) when (e is ItemNotFoundException or DriveNotFoundException or PSArgumentException)
            {
                SessionState.Path.PopLocation(StackName ?? string.Empty);
                WriteError(new ErrorRecord(e, "PathNotFound", ErrorCategory.ObjectNotFound, p));
            }
        }
    }
}

[Cmdlet(VerbsCommon.Pop, "Location")]
public sealed class PopLocationCommand : PSCmdlet
{
    [Parameter] public SwitchParameter PassThru { get; set; }
    [Parameter(ValueFromPipelineByPropertyName = true)] public string StackName { get; set; }

    protected override void ProcessRecord()
    {
        try
        {
            var r = SessionState.Path.PopLocation(StackName ?? string.Empty);
            if (PassThru && r != null) WriteObject(r);
        }
        catch (PSArgumentException e)
        {
            WriteError(new ErrorRecord(e, "Argument", ErrorCategory.InvalidArgument, StackName));
        }
    }
}

[Cmdlet(VerbsCommon.Get, "PSDrive", DefaultParameterSetName = "Name")]
public sealed class GetPSDriveCommand : PSCmdlet
{
    [Parameter(Position = 0, ParameterSetName = "Name", ValueFromPipelineByPropertyName = true)] public string[] Name { get; set; } = { "*" };
    [Parameter] public string[] PSProvider { get; set; }
    [Parameter] public string Scope { get; set; }

    protected override void ProcessRecord()
    {
        var patterns = Name.Select(n => new WildcardPattern(n, WildcardOptions.IgnoreCase)).ToArray();
        foreach (PSDriveInfo d in SessionState.Drive.GetAll())
        {
            if (!patterns.Any(p => p.IsMatch(d.Name))) continue;
            if (PSProvider != null && !PSProvider.Any(p => string.Equals(p, d.Provider.Name, StringComparison.OrdinalIgnoreCase))) continue;
            WriteObject(d);
        }
    }
}

[Cmdlet(VerbsCommon.Get, "PSProvider")]
public sealed class GetPSProviderCommand : PSCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)] public string[] PSProvider { get; set; } = { "*" };

    protected override void ProcessRecord()
    {
        var patterns = PSProvider.Select(n => new WildcardPattern(n, WildcardOptions.IgnoreCase)).ToArray();
        foreach (ProviderInfo p in SessionState.Provider.GetAll())
        {
            if (patterns.Any(x => x.IsMatch(p.Name))) WriteObject(p);
        }
    }
}

[Cmdlet(VerbsCommon.Get, "Process", DefaultParameterSetName = "Name")]
public sealed class GetProcessCommand : PSCmdlet
{
    [Parameter(Position = 0, ParameterSetName = "Name", ValueFromPipelineByPropertyName = true)] [Alias("ProcessName")] public string[] Name { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "Id", ValueFromPipelineByPropertyName = true)] [Alias("PID")] public int[] Id { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "InputObject", ValueFromPipeline = true)] public Process[] InputObject { get; set; }

    protected override void ProcessRecord()
    {
        if (InputObject != null) { WriteObject(InputObject, true); return; }
        if (Id != null)
        {
            foreach (int id in Id)
            {
                try { WriteObject(Process.GetProcessById(id)); }
                catch (ArgumentException)
                {
                    WriteError(new ErrorRecord(new ArgumentException($"Cannot find a process with the process identifier {id}."),
                        "NoProcessFoundForGivenId", ErrorCategory.ObjectNotFound, id));
                }
            }
            return;
        }
        var all = Process.GetProcesses().OrderBy(p => p.ProcessName, StringComparer.OrdinalIgnoreCase).ThenBy(p => p.Id);
        if (Name == null) { WriteObject(all, true); return; }
        foreach (string n in Name)
        {
            var pattern = new WildcardPattern(n, WildcardOptions.IgnoreCase);
            var found = all.Where(p => pattern.IsMatch(p.ProcessName)).ToList();
            if (found.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(n))
            {
                WriteError(new ErrorRecord(new ArgumentException($"Cannot find a process with the name \"{n}\". Verify the process name and call the cmdlet again."),
                    "NoProcessFoundForGivenName", ErrorCategory.ObjectNotFound, n));
            }
            WriteObject(found, true);
        }
    }
}

[Cmdlet(VerbsLifecycle.Stop, "Process", DefaultParameterSetName = "Id", SupportsShouldProcess = true)]
public sealed class StopProcessCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Id", ValueFromPipelineByPropertyName = true)] public int[] Id { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "Name", ValueFromPipelineByPropertyName = true)] [Alias("ProcessName")] public string[] Name { get; set; }
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "InputObject", ValueFromPipeline = true)] public Process[] InputObject { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        IEnumerable<Process> targets = InputObject ?? (Id != null
            ? Id.Select(i => { try { return Process.GetProcessById(i); } catch (ArgumentException) { WriteError(new ErrorRecord(new ArgumentException($"Cannot find a process with the process identifier {i}."), "NoProcessFoundForGivenId", ErrorCategory.ObjectNotFound, i)); return null; } })
            : Name.SelectMany(n => Process.GetProcesses().Where(p => new WildcardPattern(n, WildcardOptions.IgnoreCase).IsMatch(p.ProcessName))));
        foreach (Process p in targets.Where(t => t != null))
        {
            if (!ShouldProcess($"{p.ProcessName} ({p.Id})")) continue;
            try { p.Kill(); p.WaitForExit(5000); }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                WriteError(new ErrorRecord(e, "CouldNotStopProcess", ErrorCategory.CloseError, p));
            }
            if (PassThru) WriteObject(p);
        }
    }
}

[Cmdlet(VerbsLifecycle.Start, "Process", DefaultParameterSetName = "Default")]
public sealed class StartProcessCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0)] [Alias("PSPath", "Path")] public string FilePath { get; set; }
    [Parameter(Position = 1)] [Alias("Args")] public string[] ArgumentList { get; set; }
    [Parameter] public string WorkingDirectory { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }
    [Parameter] public SwitchParameter Wait { get; set; }
    [Parameter] [Alias("nnw")] public SwitchParameter NoNewWindow { get; set; }
    [Parameter] [Alias("RSO")] public string RedirectStandardOutput { get; set; }
    [Parameter] [Alias("RSE")] public string RedirectStandardError { get; set; }
    [Parameter] [Alias("RSI")] public string RedirectStandardInput { get; set; }
    [Parameter] public IDictionary Environment { get; set; }
    [Parameter] public SwitchParameter UseNewEnvironment { get; set; }

    protected override void BeginProcessing()
    {
        string file = FilePath;
        try
        {
            var resolved = SessionState.Path.GetResolvedProviderPathFromPSPath(FilePath, out _);
            if (resolved.Count == 1 && System.IO.File.Exists(resolved[0])) file = resolved[0];
        }
        catch (Exception) { }
        var psi = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            WorkingDirectory = WorkingDirectory != null ? SessionState.Path.GetUnresolvedProviderPathFromPSPath(WorkingDirectory) : SessionState.Path.CurrentFileSystemLocation.ProviderPath,
            RedirectStandardOutput = RedirectStandardOutput != null,
            RedirectStandardError = RedirectStandardError != null,
            RedirectStandardInput = RedirectStandardInput != null,
        };
        if (ArgumentList != null)
        {
            // As pwsh: one string is a command line, several are separate arguments.
            if (ArgumentList.Length == 1) psi.Arguments = ArgumentList[0];
            else foreach (string a in ArgumentList) psi.ArgumentList.Add(a);
        }
        if (UseNewEnvironment) psi.Environment.Clear();
        if (Environment != null)
        {
            foreach (DictionaryEntry e in Environment)
            {
                if (e.Value == null) psi.Environment.Remove(e.Key.ToString()); else psi.Environment[e.Key.ToString()] = e.Value.ToString();
            }
        }
        Process p;
        try { p = Process.Start(psi); }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException($"This command cannot be run due to the error: {e.Message}", e),
                "InvalidOperationException", ErrorCategory.InvalidOperation, FilePath));
            return;
        }
        Task outTask = Task.CompletedTask, errTask = Task.CompletedTask;
        if (RedirectStandardOutput != null)
        {
            var outFile = new FileStream(SessionState.Path.GetUnresolvedProviderPathFromPSPath(RedirectStandardOutput), FileMode.Create);
            outTask = p.StandardOutput.BaseStream.CopyToAsync(outFile).ContinueWith(_ => outFile.Dispose());
        }
        if (RedirectStandardError != null)
        {
            var errFile = new FileStream(SessionState.Path.GetUnresolvedProviderPathFromPSPath(RedirectStandardError), FileMode.Create);
            errTask = p.StandardError.BaseStream.CopyToAsync(errFile).ContinueWith(_ => errFile.Dispose());
        }
        if (RedirectStandardInput != null)
        {
            string input = System.IO.File.ReadAllText(SessionState.Path.GetUnresolvedProviderPathFromPSPath(RedirectStandardInput));
            p.StandardInput.Write(input);
            p.StandardInput.Close();
        }
        if (Wait)
        {
            p.WaitForExit();
            Task.WaitAll(outTask, errTask);
        }
        if (PassThru) WriteObject(p);
    }
}

[Cmdlet(VerbsLifecycle.Wait, "Process", DefaultParameterSetName = "Name")]
public sealed class WaitProcessCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Id", ValueFromPipelineByPropertyName = true)] [Alias("PID", "ProcessId")] public int[] Id { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "InputObject", ValueFromPipeline = true)] public Process[] InputObject { get; set; }
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Name", ValueFromPipelineByPropertyName = true)] [Alias("ProcessName")] public string[] Name { get; set; }
    [Parameter] [Alias("TimeoutSec")] [ValidateRange(0, 32767)] public int Timeout { get; set; } = -1;
    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        IEnumerable<Process> targets = InputObject ?? (Id != null
            ? Id.Select(i => { try { return Process.GetProcessById(i); } catch (ArgumentException) { return null; } })
            : Name.SelectMany(n => Process.GetProcessesByName(n)));
        foreach (Process p in targets.Where(t => t != null))
        {
            if (!p.WaitForExit(Timeout < 0 ? -1 : Timeout * 1000))
            {
                WriteError(new ErrorRecord(new TimeoutException($"This command stopped operation because process \"{p.ProcessName} ({p.Id})\" is not stopped in the specified time-out."),
                    "ProcessNotTerminated", ErrorCategory.CloseError, p));
            }
            if (PassThru) WriteObject(p);
        }
    }
}

[Cmdlet(VerbsCommon.Get, "ItemProperty", DefaultParameterSetName = "Path")]
public sealed class GetItemPropertyCommand : PathCommandBase
{
    [Parameter(Position = 0, ParameterSetName = "Path", Mandatory = true, ValueFromPipelineByPropertyName = true)] public override string[] Path { get; set; }
    [Parameter(ParameterSetName = "LiteralPath", Mandatory = true, ValueFromPipelineByPropertyName = true)] [Alias("PSPath", "LP")] public override string[] LiteralPath { get; set; }
    [Parameter(Position = 1)] [Alias("PSProperty")] public string[] Name { get; set; }

    protected override void ProcessRecord()
    {
        foreach (string p in Paths)
        {
            try
            {
                WriteObject(SessionState.InvokeProvider.Property.Get(new[] { p }, Name == null ? null : new Collection<string>(Name), IsLiteral), true);
            }
            catch (Exception e) when (e is ItemNotFoundException or ProviderInvocationException or PSArgumentException or PSNotSupportedException)
            {
                WriteProviderError(e, "GetItemPropertyError", ErrorCategory.ReadError, p);
            }
        }
    }
}
