using System.Collections;
using System.Collections.Specialized;
using System.Globalization;
using System.Management.Automation;
using System.Numerics;
using System.Reflection;
using Newtonsoft.Json;
using Newtonsoft.Json.Converters;
using Newtonsoft.Json.Linq;

namespace Microsoft.PowerShell.Commands;

public enum JsonDateKind { Default, Local, Utc, Offset, String }

/// <summary>
/// ConvertTo-Json / ConvertFrom-Json as PowerShell 7 does them: Newtonsoft.Json, the same settings,
/// the same pre-processing of PowerShell objects (depth cut-off with a warning, ETS properties,
/// pure PSObjects), Int64 numbers and DateTime strings on the way back.
/// </summary>
public static class JsonObject
{
    internal const string JsonMaxDepthReached = "Resulting JSON is truncated as serialization has exceeded the set depth of {0}.";

    public static object ConvertFromJson(string input, bool returnHashtable, int? maxDepth, JsonDateKind dateKind, out ErrorRecord error)
    {
        ArgumentNullException.ThrowIfNull(input);
        (DateParseHandling parse, DateTimeZoneHandling zone) = dateKind switch
        {
            JsonDateKind.Local => (DateParseHandling.DateTime, DateTimeZoneHandling.Local),
            JsonDateKind.Utc => (DateParseHandling.DateTime, DateTimeZoneHandling.Utc),
            JsonDateKind.Offset => (DateParseHandling.DateTimeOffset, DateTimeZoneHandling.Unspecified),
            JsonDateKind.String => (DateParseHandling.None, DateTimeZoneHandling.Unspecified),
            _ => (DateParseHandling.DateTime, DateTimeZoneHandling.RoundtripKind),
        };
        error = null;
        try
        {
            object obj = JsonConvert.DeserializeObject(input, new JsonSerializerSettings
            {
                DateParseHandling = parse,
                DateTimeZoneHandling = zone,
                TypeNameHandling = TypeNameHandling.None,
                MetadataPropertyHandling = MetadataPropertyHandling.Ignore,
                MaxDepth = maxDepth,
            });
            return obj switch
            {
                JObject d => returnHashtable ? ToHashtable(d, out error) : ToPSObject(d, out error),
                JArray a => ToArray(a, returnHashtable, out error),
                _ => obj,
            };
        }
        catch (JsonException je)
        {
            throw new ArgumentException(string.Format(CultureInfo.CurrentCulture, "Conversion from JSON failed with error: {0}", je.Message), je);
        }
    }

    private static object Convert(JToken token, bool hashtable, out ErrorRecord error)
    {
        error = null;
        return token switch
        {
            JArray a => ToArray(a, hashtable, out error),
            JObject o => hashtable ? ToHashtable(o, out error) : ToPSObject(o, out error),
            JValue v => v.Value,
            _ => null,
        };
    }

    private static PSObject ToPSObject(JObject entries, out ErrorRecord error)
    {
        error = null;
        var result = new PSObject(entries.Count);
        var seen = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in entries)
        {
            if (string.IsNullOrEmpty(entry.Key))
            {
                error = new ErrorRecord(new InvalidOperationException("The provided JSON includes a property whose name is an empty string, this is only supported using the -AsHashTable switch."),
                    "EmptyKeyInJsonString", ErrorCategory.InvalidOperation, null);
                return null;
            }
            if (seen.TryGetValue(entry.Key, out string previous))
            {
                error = string.Equals(previous, entry.Key, StringComparison.Ordinal)
                    ? new ErrorRecord(new InvalidOperationException($"Cannot convert the JSON string because it contains keys with different casing. Please use the -AsHashTable switch instead. The key that was attempted to be added to the existing key '{previous}' was '{entry.Key}'."),
                        "DuplicateKeysInJsonString", ErrorCategory.InvalidOperation, null)
                    : new ErrorRecord(new InvalidOperationException($"Cannot convert the JSON string because it contains keys with different casing. Please use the -AsHashTable switch instead. The key that was attempted to be added to the existing key '{previous}' was '{entry.Key}'."),
                        "KeysWithDifferentCasingInJsonString", ErrorCategory.InvalidOperation, null);
                return null;
            }
            object value = Convert(entry.Value, false, out error);
            if (error != null) return null;
            result.Properties.Add(new PSNoteProperty(entry.Key, value));
            seen[entry.Key] = entry.Key;
        }
        return result;
    }

    private static Hashtable ToHashtable(JObject entries, out ErrorRecord error)
    {
        error = null;
        var result = new OrderedHashtable(entries.Count);
        foreach (var entry in entries)
        {
            if (result.ContainsKey(entry.Key))
            {
                error = new ErrorRecord(new InvalidOperationException($"Cannot convert the JSON string because a dictionary that was converted from the string contains the duplicated key '{entry.Key}'."),
                    "DuplicateKeysInJsonString", ErrorCategory.InvalidOperation, null);
                return null;
            }
            object value = Convert(entry.Value, true, out error);
            if (error != null) return null;
            result.Add(entry.Key, value);
        }
        return result;
    }

    private static object[] ToArray(JArray list, bool hashtable, out ErrorRecord error)
    {
        error = null;
        var result = new List<object>(list.Count);
        foreach (JToken element in list)
        {
            if (element is JValue { Type: JTokenType.Comment }) continue;
            result.Add(Convert(element, hashtable, out error));
            if (error != null) return null;
        }
        return result.ToArray();
    }

    public readonly struct ConvertToJsonContext
    {
        public readonly int MaxDepth;
        public readonly bool EnumsAsStrings;
        public readonly bool CompressOutput;
        public readonly StringEscapeHandling StringEscapeHandling;
        public readonly PSCmdlet Cmdlet;

        public ConvertToJsonContext(int maxDepth, bool enumsAsStrings, bool compressOutput, StringEscapeHandling escape, PSCmdlet cmdlet)
        {
            MaxDepth = maxDepth;
            EnumsAsStrings = enumsAsStrings;
            CompressOutput = compressOutput;
            StringEscapeHandling = escape;
            Cmdlet = cmdlet;
        }
    }

    [ThreadStatic] private static bool _maxDepthWarningWritten;

    public static string ConvertToJson(object objectToProcess, in ConvertToJsonContext context)
    {
        _maxDepthWarningWritten = false;
        object preprocessed = ProcessValue(objectToProcess, 0, in context);
        var settings = new JsonSerializerSettings
        {
            TypeNameHandling = TypeNameHandling.None,
            MaxDepth = 1024,
            StringEscapeHandling = context.StringEscapeHandling,
        };
        if (context.EnumsAsStrings) settings.Converters.Add(new StringEnumConverter());
        if (!context.CompressOutput) settings.Formatting = Formatting.Indented;
        return JsonConvert.SerializeObject(preprocessed, settings);
    }

    private static object ProcessValue(object obj, int depth, in ConvertToJsonContext context)
    {
        if (obj == null || obj == AutomationNull.Value) return null;
        PSObject pso = obj as PSObject;
        if (pso != null) obj = pso.BaseObject;
        object rv = obj;
        bool isPurePSObj = false, isCustomObj = false;

        if (obj == System.Management.Automation.Language.NullString.Value || obj == DBNull.Value) rv = null;
        else if (obj is string or char or bool or DateTime or DateTimeOffset or Guid or Uri or double or float or decimal or BigInteger) rv = obj;
        else if (obj is JObject jObject) rv = jObject.ToObject<Dictionary<object, object>>();
        else
        {
            Type t = obj.GetType();
            if (t.IsPrimitive) rv = obj;
            else if (t.IsEnum)
            {
                Type u = Enum.GetUnderlyingType(t);
                rv = u == typeof(long) || u == typeof(ulong) ? obj.ToString() : obj;
            }
            else if (depth > context.MaxDepth)
            {
                if (!_maxDepthWarningWritten && context.Cmdlet != null)
                {
                    _maxDepthWarningWritten = true;
                    context.Cmdlet.WriteWarning(string.Format(CultureInfo.CurrentCulture, JsonMaxDepthReached, context.MaxDepth));
                }
                if (pso != null && pso.BaseObject is PSCustomObject)
                {
                    rv = LanguagePrimitives.ConvertTo(pso, typeof(string), CultureInfo.InvariantCulture);
                    isPurePSObj = true;
                }
                else rv = LanguagePrimitives.ConvertTo(obj, typeof(string), CultureInfo.InvariantCulture);
            }
            else if (obj is IDictionary dict) rv = ProcessDictionary(dict, depth, in context);
            else if (obj is IEnumerable e)
            {
                var list = new List<object>();
                foreach (object o in e) list.Add(ProcessValue(o, depth + 1, in context));
                rv = list;
            }
            else
            {
                rv = ProcessCustomObject(obj, depth, in context);
                isCustomObj = true;
            }
        }
        return AddPsProperties(pso, rv, depth, isPurePSObj, isCustomObj, in context);
    }

    private static object AddPsProperties(PSObject pso, object obj, int depth, bool isPurePSObj, bool isCustomObj, in ConvertToJsonContext context)
    {
        if (pso == null || isPurePSObj) return obj;
        bool wasDictionary = true;
        if (obj is not IDictionary dict)
        {
            wasDictionary = false;
            dict = new Dictionary<string, object> { { "value", obj } };
        }
        AppendPsProperties(pso, dict, depth, isCustomObj, in context);
        if (!wasDictionary && dict.Count == 1) return obj;
        return dict;
    }

    private static void AppendPsProperties(PSObject pso, IDictionary receiver, int depth, bool isCustomObject, in ConvertToJsonContext context)
    {
        if (pso.BaseObject is string || pso.BaseObject is DateTime) return;
        foreach (PSPropertyInfo prop in pso.Properties)
        {
            // Extended (ETS) properties always; adapted (.NET) properties for custom objects only.
            bool adapted = prop is PSProperty || prop.MemberType == PSMemberTypes.Property;
            if (adapted && !isCustomObject) continue;
            object value = null;
            try { value = prop.Value; } catch (Exception) { }
            if (!receiver.Contains(prop.Name)) receiver[prop.Name] = ProcessValue(value, depth + 1, in context);
        }
    }

    private static object ProcessDictionary(IDictionary dict, int depth, in ConvertToJsonContext context)
    {
        var result = new Dictionary<string, object>(dict.Count);
        foreach (DictionaryEntry entry in dict)
        {
            if (entry.Key is not string name)
            {
                var ex = new InvalidOperationException($"The type '{dict.GetType().FullName}' is not supported for serialization or deserialization of a dictionary. Keys must be strings.");
                if (context.Cmdlet != null) context.Cmdlet.ThrowTerminatingError(new ErrorRecord(ex, "NonStringKeyInDictionary", ErrorCategory.InvalidOperation, dict));
                throw ex;
            }
            result.Add(name, ProcessValue(entry.Value, depth + 1, in context));
        }
        return result;
    }

    private static object ProcessCustomObject(object o, int depth, in ConvertToJsonContext context)
    {
        var result = new Dictionary<string, object>();
        Type t = o.GetType();
        foreach (FieldInfo f in t.GetFields(BindingFlags.Public | BindingFlags.Instance))
        {
            if (f.IsDefined(typeof(JsonIgnoreAttribute), true)) continue;
            object value;
            try { value = f.GetValue(o); } catch (Exception) { value = null; }
            result.Add(f.Name, ProcessValue(value, depth + 1, in context));
        }
        foreach (PropertyInfo p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.IsDefined(typeof(JsonIgnoreAttribute), true)) continue;
            MethodInfo get = p.GetGetMethod();
            if (get == null || get.GetParameters().Length != 0) continue;
            object value;
            try { value = get.Invoke(o, Array.Empty<object>()); } catch (Exception) { value = null; }
            result[p.Name] = ProcessValue(value, depth + 1, in context);
        }
        return result;
    }
}

/// <summary>The ordered, case-insensitive hashtable ConvertFrom-Json -AsHashtable returns.</summary>
public class OrderedHashtable : Hashtable, IEnumerable
{
    private readonly OrderedDictionary _dict;

    public OrderedHashtable() : this(0) { }

    public OrderedHashtable(int capacity) : base(capacity, StringComparer.OrdinalIgnoreCase)
    {
        _dict = new OrderedDictionary(capacity, StringComparer.OrdinalIgnoreCase);
    }

    public override ICollection Keys => _dict.Keys;
    public override ICollection Values => _dict.Values;
    public override int Count => _dict.Count;
    public override bool ContainsKey(object key) => _dict.Contains(key);
    public override bool Contains(object key) => _dict.Contains(key);

    public override object this[object key]
    {
        get => _dict[key];
        set { _dict[key] = value; base[key] = value; }
    }

    public override void Add(object key, object value) { _dict.Add(key, value); base.Add(key, value); }
    public override void Remove(object key) { _dict.Remove(key); base.Remove(key); }
    public override void Clear() { _dict.Clear(); base.Clear(); }
    public override IDictionaryEnumerator GetEnumerator() => _dict.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => _dict.GetEnumerator();
}

[Cmdlet(VerbsData.ConvertTo, "Json")]
[OutputType(typeof(string))]
public sealed class ConvertToJsonCommand : PSCmdlet
{
    private readonly List<object> _inputObjects = new();

    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true)] [AllowNull] public object InputObject { get; set; }
    [Parameter] [ValidateRange(0, 100)] public int Depth { get; set; } = 2;
    [Parameter] public SwitchParameter Compress { get; set; }
    [Parameter] public SwitchParameter EnumsAsStrings { get; set; }
    [Parameter] public SwitchParameter AsArray { get; set; }
    [Parameter] public StringEscapeHandling EscapeHandling { get; set; } = StringEscapeHandling.Default;

    protected override void ProcessRecord() => _inputObjects.Add(InputObject);

    protected override void EndProcessing()
    {
        if (_inputObjects.Count == 0) return;
        object o = _inputObjects.Count > 1 || AsArray ? _inputObjects.ToArray() : _inputObjects[0];
        var context = new JsonObject.ConvertToJsonContext(Depth, EnumsAsStrings, Compress, EscapeHandling, this);
        string output = JsonObject.ConvertToJson(o, in context);
        if (output != null) WriteObject(output);
    }
}

[Cmdlet(VerbsData.ConvertFrom, "Json")]
public sealed class ConvertFromJsonCommand : PSCmdlet
{
    private readonly List<string> _buffer = new();

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)] [AllowEmptyString] public string InputObject { get; set; }
    [Parameter] public SwitchParameter AsHashtable { get; set; }
    [Parameter] [ValidateRange(1, int.MaxValue)] public int Depth { get; set; } = 1024;
    [Parameter] public SwitchParameter NoEnumerate { get; set; }
    [Parameter] public JsonDateKind DateKind { get; set; } = JsonDateKind.Default;

    protected override void ProcessRecord() => _buffer.Add(InputObject);

    protected override void EndProcessing()
    {
        if (_buffer.Count == 0) return;
        if (_buffer.Count == 1) { Convert(_buffer[0]); return; }
        bool ok = false;
        try { ok = Convert(_buffer[0]); } catch (ArgumentException) { }
        if (ok) for (int i = 1; i < _buffer.Count; i++) Convert(_buffer[i]);
        else Convert(string.Join(Environment.NewLine, _buffer));
    }

    private bool Convert(string input)
    {
        object result = JsonObject.ConvertFromJson(input, AsHashtable, Depth, DateKind, out ErrorRecord error);
        if (error != null) ThrowTerminatingError(error);
        WriteObject(result, !NoEnumerate);
        return result != null;
    }
}
