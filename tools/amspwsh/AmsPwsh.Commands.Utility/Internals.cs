using System.Globalization;
using System.Management.Automation;
using System.Reflection;
using Microsoft.PowerShell.Commands.Internal.Format;

namespace Microsoft.PowerShell.Commands;

/// <summary>
/// Reaches into System.Management.Automation for what the real Microsoft.PowerShell.Commands.Utility
/// assembly uses through InternalsVisibleTo: the formatting engine (Format-Table/-List, Out-String,
/// Out-File), ErrorRecord invocation info (Write-Error) and SecureString protection.
/// </summary>
internal static class SmaInternals
{
    private const BindingFlags Any = BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;
    private static readonly Assembly Sma = typeof(PSObject).Assembly;
    private const string FormatNs = "Microsoft.PowerShell.Commands.Internal.Format.";

    private static Type FormatType(string name) => Sma.GetType(FormatNs + name, throwOnError: true);

    private static readonly FieldInfo ImplementationField =
        typeof(FrontEndCommandBase).GetField("implementation", Any)
        ?? throw new InvalidOperationException("FrontEndCommandBase.implementation not found in this System.Management.Automation.");

    /// <summary>Sets what the real Format-Table/-List constructors set: an InnerFormatShapeCommand of that shape.</summary>
    public static void UseFormatShape(FrontEndCommandBase command, string shape)
    {
        Type shapeType = FormatType("FormatShape");
        object inner = Activator.CreateInstance(FormatType("InnerFormatShapeCommand"), Any, null,
            new[] { Enum.Parse(shapeType, shape) }, CultureInfo.InvariantCulture);
        ImplementationField.SetValue(command, inner);
    }

    /// <summary>What the real Out-String/Out-File constructors set: an OutputManagerInner.</summary>
    public static void UseOutputManager(FrontEndCommandBase command)
    {
        object inner = Activator.CreateInstance(FormatType("OutputManagerInner"), nonPublic: true);
        ImplementationField.SetValue(command, inner);
    }

    /// <summary>Gives the OutputManagerInner a LineOutput writing lines of at most <paramref name="columns"/> to <paramref name="writer"/>.</summary>
    public static void SetLineOutput(FrontEndCommandBase command, TextWriter writer, int columns)
    {
        object inner = ImplementationField.GetValue(command);
        object lineOutput = Activator.CreateInstance(FormatType("TextWriterLineOutput"), Any, null,
            new object[] { writer, columns }, CultureInfo.InvariantCulture);
        inner.GetType().GetProperty("LineOutput", Any).SetValue(inner, lineOutput);
    }

    /// <summary>A TextWriter that calls <paramref name="onLine"/> for each line (the engine's StreamingTextWriter).</summary>
    public static TextWriter NewStreamingTextWriter(object target, string methodName, CultureInfo culture)
    {
        Type callbackType = Sma.GetType(FormatNs + "StreamingTextWriter+WriteLineCallback", throwOnError: true);
        MethodInfo method = target.GetType().GetMethod(methodName, Any);
        Delegate callback = Delegate.CreateDelegate(callbackType, target, method);
        return (TextWriter)Activator.CreateInstance(FormatType("StreamingTextWriter"), Any, null,
            new object[] { callback, culture }, CultureInfo.InvariantCulture);
    }

    /// <summary>Write-Error reports the error at the caller's position, as the real cmdlet does.</summary>
    public static void SetInvocationInfo(ErrorRecord record, InvocationInfo info)
    {
        try
        {
            typeof(ErrorRecord).GetMethod("SetInvocationInfo", Any, null, new[] { typeof(InvocationInfo) }, null)?.Invoke(record, new object[] { info });
            typeof(ErrorRecord).GetProperty("PreserveInvocationInfoOnce", Any)?.SetValue(record, true);
        }
        catch (Exception) { /* best effort */ }
    }

    public static void SetInvocationInfo(InformationalRecord record, InvocationInfo info)
    {
        try
        {
            typeof(InformationalRecord).GetMethod("SetInvocationInfo", Any, null, new[] { typeof(InvocationInfo) }, null)?.Invoke(record, new object[] { info });
        }
        catch (Exception) { }
    }

    private static Type SecureStringHelper => Sma.GetType("Microsoft.PowerShell.SecureStringHelper", throwOnError: true);

    /// <summary>ConvertFrom-SecureString with no key (SMA's SecureStringHelper.Protect: DPAPI on Windows, plain hex elsewhere).</summary>
    public static string Protect(System.Security.SecureString s)
        => (string)SecureStringHelper.GetMethod("Protect", Any, null, new[] { typeof(System.Security.SecureString) }, null).Invoke(null, new object[] { s });

    public static System.Security.SecureString Unprotect(string s)
        => (System.Security.SecureString)SecureStringHelper.GetMethod("Unprotect", Any, null, new[] { typeof(string) }, null).Invoke(null, new object[] { s });

    /// <summary>ConvertFrom-SecureString -Key: SMA's SecureStringHelper.Encrypt, then the same envelope as the real cmdlet.</summary>
    public static string Encrypt(System.Security.SecureString s, byte[] key)
    {
        MethodInfo encrypt = SecureStringHelper.GetMethod("Encrypt", Any, null, new[] { typeof(System.Security.SecureString), typeof(byte[]) }, null);
        object result = encrypt.Invoke(null, new object[] { s, key });
        // EncryptionResult { EncryptedData, IV }
        string data = (string)result.GetType().GetField("EncryptedData", Any)?.GetValue(result)
                      ?? (string)result.GetType().GetProperty("EncryptedData", Any)?.GetValue(result);
        string iv = (string)result.GetType().GetField("IV", Any)?.GetValue(result)
                    ?? (string)result.GetType().GetProperty("IV", Any)?.GetValue(result);
        string payload = "2|" + iv + "|" + data;
        return "76492d1116743f0423413b16050a5345" + Convert.ToBase64String(System.Text.Encoding.Unicode.GetBytes(payload));
    }

    public static System.Security.SecureString Decrypt(string input, byte[] key)
    {
        const string header = "76492d1116743f0423413b16050a5345";
        string iv = null;
        string data = input;
        if (input.StartsWith(header, StringComparison.Ordinal))
        {
            string payload = System.Text.Encoding.Unicode.GetString(Convert.FromBase64String(input.Substring(header.Length)));
            string[] parts = payload.Split('|');
            if (parts.Length == 3 && parts[0] == "2") { iv = parts[1]; data = parts[2]; }
        }
        byte[] ivBytes = iv == null ? null : Convert.FromBase64String(iv);
        MethodInfo decrypt = SecureStringHelper.GetMethod("Decrypt", Any, null, new[] { typeof(string), typeof(byte[]), typeof(byte[]) }, null);
        return (System.Security.SecureString)decrypt.Invoke(null, new object[] { data, key, ivBytes });
    }
}

internal static class Paths
{
    /// <summary>Resolves wildcard paths to provider paths, writing the real cmdlets' errors for those that do not exist.</summary>
    public static List<(string ProviderPath, ProviderInfo Provider, string PSPath)> Resolve(PSCmdlet cmdlet, IEnumerable<string> paths, bool literal, bool allowNonexistent = false)
    {
        var result = new List<(string, ProviderInfo, string)>();
        foreach (string path in paths)
        {
            try
            {
                if (literal || allowNonexistent && !WildcardPattern.ContainsWildcardCharacters(path))
                {
                    string providerPath = cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out ProviderInfo provider, out PSDriveInfo _);
                    if (!allowNonexistent && !cmdlet.SessionState.InvokeProvider.Item.Exists(WildcardPattern.Escape(path), false, false))
                    {
                        throw new ItemNotFoundException($"Cannot find path '{providerPath}' because it does not exist.");
                    }
                    result.Add((providerPath, provider, provider.Name + "::" + providerPath));
                }
                else
                {
                    var resolved = cmdlet.SessionState.Path.GetResolvedProviderPathFromPSPath(path, out ProviderInfo provider);
                    if (resolved.Count == 0)
                    {
                        throw new ItemNotFoundException($"Cannot find path '{path}' because it does not exist.");
                    }
                    foreach (string p in resolved) result.Add((p, provider, provider.Name + "::" + p));
                }
            }
            catch (ItemNotFoundException e)
            {
                var er = e.ErrorRecord != null && e.ErrorRecord.Exception == e && e.ErrorRecord.FullyQualifiedErrorId.StartsWith("PathNotFound", StringComparison.Ordinal)
                    ? new ErrorRecord(e.ErrorRecord, e)
                    : new ErrorRecord(e, "PathNotFound", ErrorCategory.ObjectNotFound, path);
                cmdlet.WriteError(er);
            }
            catch (Exception e) when (e is DriveNotFoundException || e is ProviderNotFoundException || e is NotSupportedException || e is PSArgumentException)
            {
                cmdlet.WriteError(e is IContainsErrorRecord c && c.ErrorRecord != null
                    ? new ErrorRecord(c.ErrorRecord, e)
                    : new ErrorRecord(e, e.GetType().Name, ErrorCategory.InvalidArgument, path));
            }
        }
        return result;
    }

    public static bool IsFileSystem(ProviderInfo p) => string.Equals(p?.Name, "FileSystem", StringComparison.OrdinalIgnoreCase);

    public static PSObject AddPathNotes(PSCmdlet cmdlet, object value, string providerPath, ProviderInfo provider, long readCount)
    {
        var pso = PSObject.AsPSObject(value);
        string parent = Path.GetDirectoryName(providerPath) ?? string.Empty;
        pso.Properties.Add(new PSNoteProperty("PSPath", provider.ModuleName is { Length: > 0 } m ? m + "\\" + provider.Name + "::" + providerPath : "Microsoft.PowerShell.Core\\" + provider.Name + "::" + providerPath), true);
        pso.Properties.Add(new PSNoteProperty("PSParentPath", "Microsoft.PowerShell.Core\\" + provider.Name + "::" + parent), true);
        pso.Properties.Add(new PSNoteProperty("PSChildName", Path.GetFileName(providerPath)), true);
        PSDriveInfo drive = provider.Drives.FirstOrDefault(d => providerPath.StartsWith(d.Root, StringComparison.Ordinal) && d.Root.Length > 0);
        pso.Properties.Add(new PSNoteProperty("PSDrive", drive), true);
        pso.Properties.Add(new PSNoteProperty("PSProvider", provider), true);
        pso.Properties.Add(new PSNoteProperty("ReadCount", readCount), true);
        return pso;
    }
}

internal static class EncodingArg
{
    /// <summary>PowerShell 7's -Encoding names; utf8NoBOM by default.</summary>
    public static System.Text.Encoding Get(object value)
    {
        if (value == null) return new System.Text.UTF8Encoding(false);
        if (value is PSObject p) value = p.BaseObject;
        if (value is System.Text.Encoding e) return e;
        if (value is int cp) return System.Text.Encoding.GetEncoding(cp);
        string s = value.ToString();
        switch (s.ToLowerInvariant())
        {
            case "utf8": case "utf8nobom": case "default": return new System.Text.UTF8Encoding(false);
            case "utf8bom": return new System.Text.UTF8Encoding(true);
            case "ascii": return System.Text.Encoding.ASCII;
            case "unicode": return System.Text.Encoding.Unicode;
            case "bigendianunicode": return System.Text.Encoding.BigEndianUnicode;
            case "utf32": return System.Text.Encoding.UTF32;
            case "bigendianutf32": return new System.Text.UTF32Encoding(true, true);
            case "utf7": return System.Text.Encoding.UTF8;
            case "oem": case "ansi": return new System.Text.UTF8Encoding(false);
            case "latin1": return System.Text.Encoding.Latin1;
            case "byte": return null;
            default: return System.Text.Encoding.GetEncoding(s);
        }
    }
}

/// <summary>Accepts the -Encoding values pwsh accepts (names, code pages, Encoding objects).</summary>
public sealed class EncodingCompletionsAttribute : ArgumentCompleterAttribute
{
    public EncodingCompletionsAttribute() : base(typeof(EncodingCompleter)) { }
}

public sealed class EncodingCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        System.Management.Automation.Language.CommandAst commandAst, System.Collections.IDictionary fakeBoundParameters)
        => new[] { "ascii", "bigendianunicode", "bigendianutf32", "oem", "unicode", "utf7", "utf8", "utf8BOM", "utf8NoBOM", "utf32" }
            .Where(n => n.StartsWith(wordToComplete ?? "", StringComparison.OrdinalIgnoreCase))
            .Select(n => new CompletionResult(n));
}
