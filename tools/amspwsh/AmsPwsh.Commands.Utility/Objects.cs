using System.Collections;
using System.Collections.ObjectModel;
using System.Globalization;
using System.Management.Automation;
using System.Reflection;

namespace Microsoft.PowerShell.Commands;

/// <summary>A property given to Select-Object, Sort-Object, Group-Object, Compare-Object: a name (wildcards), a script block or a hashtable.</summary>
internal sealed class PropertySpec
{
    public string Label;
    public PSPropertyExpression Expression;
    public bool IsWildcardName;
    public bool? Ascending;
    public string Raw;

    private static bool KeyIs(string key, params string[] names)
        => names.Any(n => n.StartsWith(key, StringComparison.OrdinalIgnoreCase) && key.Length > 0);

    public static List<PropertySpec> Parse(PSCmdlet cmdlet, IEnumerable<object> properties, bool forSort = false)
    {
        var list = new List<PropertySpec>();
        if (properties == null) return list;
        foreach (object raw in properties)
        {
            object p = raw is PSObject pso ? pso.BaseObject : raw;
            switch (p)
            {
                case null: break;
                case string s:
                    list.Add(new PropertySpec { Label = s, Raw = s, Expression = new PSPropertyExpression(s), IsWildcardName = WildcardPattern.ContainsWildcardCharacters(s) });
                    break;
                case ScriptBlock sb:
                    list.Add(new PropertySpec { Label = sb.ToString(), Raw = sb.ToString(), Expression = new PSPropertyExpression(sb) });
                    break;
                case IDictionary h:
                    var spec = new PropertySpec();
                    foreach (DictionaryEntry e in h)
                    {
                        string key = e.Key?.ToString() ?? string.Empty;
                        object v = e.Value is PSObject vp ? vp.BaseObject : e.Value;
                        if (!forSort && (KeyIs(key, "Name") || KeyIs(key, "Label"))) spec.Label = v?.ToString();
                        else if (KeyIs(key, "Expression"))
                        {
                            spec.Expression = v is ScriptBlock esb ? new PSPropertyExpression(esb) : new PSPropertyExpression(v?.ToString() ?? string.Empty);
                            spec.Raw = v?.ToString();
                        }
                        else if (forSort && KeyIs(key, "Ascending")) spec.Ascending = LanguagePrimitives.IsTrue(v);
                        else if (forSort && KeyIs(key, "Descending")) spec.Ascending = !LanguagePrimitives.IsTrue(v);
                        else if (KeyIs(key, "FormatString") || KeyIs(key, "Width") || KeyIs(key, "Alignment")) { }
                        else
                        {
                            cmdlet.ThrowTerminatingError(new ErrorRecord(new NotSupportedException($"The {key} key is not valid."),
                                "DictionaryKeyIllegal", ErrorCategory.InvalidArgument, h));
                        }
                    }
                    if (spec.Expression == null)
                    {
                        cmdlet.ThrowTerminatingError(new ErrorRecord(new NotSupportedException("The Expression key is missing."),
                            "DictionaryKeyMissing", ErrorCategory.InvalidArgument, h));
                    }
                    spec.Label ??= spec.Raw;
                    list.Add(spec);
                    break;
                default:
                    string text = p.ToString();
                    list.Add(new PropertySpec { Label = text, Raw = text, Expression = new PSPropertyExpression(text), IsWildcardName = WildcardPattern.ContainsWildcardCharacters(text) });
                    break;
            }
        }
        return list;
    }

    /// <summary>The value of a (non-wildcard) property of an object, or null.</summary>
    public object ValueOf(PSObject target)
    {
        var results = Expression.GetValues(target, false, true);
        if (results.Count == 0) return null;
        return results[0].Result;
    }
}

internal static class ObjectCompare
{
    public static int Compare(object a, object b, bool caseSensitive, CultureInfo culture)
    {
        a = a is PSObject pa ? pa.BaseObject : a;
        b = b is PSObject pb ? pb.BaseObject : b;
        if (a == null && b == null) return 0;
        if (a == null) return -1;
        if (b == null) return 1;
        if (a is string sa && b is string sb)
            return string.Compare(sa, sb, culture, caseSensitive ? CompareOptions.None : CompareOptions.IgnoreCase);
        try
        {
            return LanguagePrimitives.Compare(a, b, !caseSensitive, culture);
        }
        catch (Exception)
        {
            return string.Compare(a.ToString(), b.ToString(), culture, caseSensitive ? CompareOptions.None : CompareOptions.IgnoreCase);
        }
    }

    public static bool AreEqual(object a, object b, bool caseSensitive, CultureInfo culture)
    {
        a = a is PSObject pa ? pa.BaseObject : a;
        b = b is PSObject pb ? pb.BaseObject : b;
        if (a == null || b == null) return a == null && b == null;
        try
        {
            if (LanguagePrimitives.Equals(a, b, !caseSensitive, culture)) return true;
        }
        catch (Exception) { }
        return string.Equals(AsText(a), AsText(b), caseSensitive ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);
    }

    private static string AsText(object o) => o is PSCustomObject ? PSObject.AsPSObject(o).ToString() : LanguagePrimitives.ConvertTo<string>(o);
}

[Cmdlet(VerbsCommon.Select, "Object", DefaultParameterSetName = "DefaultParameter")]
public sealed class SelectObjectCommand : PSCmdlet
{
    [Parameter(ValueFromPipeline = true)] public PSObject InputObject { get; set; } = AutomationNull.Value as PSObject;

    [Parameter(Position = 0, ParameterSetName = "DefaultParameter")]
    [Parameter(Position = 0, ParameterSetName = "SkipLastParameter")]
    public object[] Property { get; set; }

    [Parameter(ParameterSetName = "DefaultParameter")]
    [Parameter(ParameterSetName = "SkipLastParameter")]
    public string[] ExcludeProperty { get; set; }

    [Parameter(ParameterSetName = "DefaultParameter")]
    [Parameter(ParameterSetName = "SkipLastParameter")]
    public string ExpandProperty { get; set; }

    [Parameter] public SwitchParameter Unique { get; set; }
    [Parameter] public SwitchParameter CaseInsensitive { get; set; }
    [Parameter(ParameterSetName = "DefaultParameter")] [ValidateRange(0, int.MaxValue)] public int Last { get; set; }
    [Parameter(ParameterSetName = "DefaultParameter")] [ValidateRange(0, int.MaxValue)] public int First { get; set; }
    [Parameter(ParameterSetName = "DefaultParameter")] [ValidateRange(0, int.MaxValue)] public int Skip { get; set; }
    [Parameter(ParameterSetName = "SkipLastParameter")] [ValidateRange(0, int.MaxValue)] public int SkipLast { get; set; }
    [Parameter(ParameterSetName = "DefaultParameter")] [Parameter(ParameterSetName = "IndexParameter")] public SwitchParameter Wait { get; set; }
    [Parameter(ParameterSetName = "IndexParameter")] [ValidateRange(0, int.MaxValue)] public int[] Index { get; set; }
    [Parameter(ParameterSetName = "SkipIndexParameter")] [ValidateRange(0, int.MaxValue)] public int[] SkipIndex { get; set; }

    private List<PropertySpec> _specs;
    private WildcardPattern[] _exclude;
    private int _seen;
    private int _written;
    private bool _firstSet, _lastSet;
    private readonly Queue<PSObject> _buffer = new();
    private readonly List<object> _uniqueKeys = new();
    private HashSet<int> _index, _skipIndex;

    protected override void BeginProcessing()
    {
        var bound = MyInvocation.BoundParameters;
        _firstSet = bound.ContainsKey(nameof(First));
        _lastSet = bound.ContainsKey(nameof(Last));
        if (Property == null && ExcludeProperty != null) Property = new object[] { "*" };
        _specs = PropertySpec.Parse(this, Property);
        _exclude = ExcludeProperty?.Select(e => new WildcardPattern(e, WildcardOptions.IgnoreCase)).ToArray() ?? Array.Empty<WildcardPattern>();
        if (Index != null) _index = new HashSet<int>(Index);
        if (SkipIndex != null) _skipIndex = new HashSet<int>(SkipIndex);
    }

    protected override void ProcessRecord()
    {
        if (InputObject == null || InputObject == AutomationNull.Value) return;
        int position = _seen++;
        if (_index != null && !_index.Contains(position)) return;
        if (_skipIndex != null && _skipIndex.Contains(position)) return;
        if (position < Skip && _index == null) return;

        if (_lastSet || SkipLast > 0)
        {
            _buffer.Enqueue(InputObject);
            if (_lastSet && _buffer.Count > Last) _buffer.Dequeue();
            if (SkipLast > 0 && _buffer.Count > SkipLast) Emit(_buffer.Dequeue());
            return;
        }
        if (_firstSet && _written >= First) { StopUpstream(); return; }
        Emit(InputObject);
        if (_firstSet && _written >= First && !Unique) StopUpstream();
    }

    protected override void EndProcessing()
    {
        if (_lastSet)
        {
            int n = 0;
            foreach (PSObject o in _buffer)
            {
                if (_firstSet && n++ >= First) break;
                Emit(o);
            }
        }
    }

    private void StopUpstream()
    {
        // What the real cmdlet does (StopUpstreamCommandsException is internal): stop the commands before it.
        Type t = typeof(PSObject).Assembly.GetType("System.Management.Automation.StopUpstreamCommandsException");
        ConstructorInfo ctor = t?.GetConstructors(BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)
            .FirstOrDefault(c => c.GetParameters().Length == 1);
        if (ctor == null) return;
        throw (Exception)ctor.Invoke(new object[] { this });
    }

    private void Emit(PSObject input)
    {
        if (!string.IsNullOrEmpty(ExpandProperty))
        {
            var expand = new PSPropertyExpression(ExpandProperty);
            var names = expand.ResolveNames(input);
            if (names.Count == 0)
            {
                WriteError(new ErrorRecord(new PSArgumentException($"Property \"{ExpandProperty}\" cannot be found."),
                    "ExpandPropertyNotFound", ErrorCategory.InvalidArgument, input));
                return;
            }
            object value = names[0].GetValues(input, false, true).FirstOrDefault()?.Result;
            IEnumerable items = LanguagePrimitives.GetEnumerable(value);
            IEnumerable<object> sequence = items != null && value is not string ? items.Cast<object>() : new[] { value };
            foreach (object item in sequence)
            {
                if (_specs.Count > 0)
                {
                    PSObject target = PSObject.AsPSObject(item);
                    foreach (var (name, val) in Selected(input))
                    {
                        if (target.Properties[name] == null) target.Properties.Add(new PSNoteProperty(name, val));
                        else WriteError(new ErrorRecord(new PSArgumentException($"The property cannot be processed because the property \"{name}\" already exists."),
                            "AlreadyExistingUserSpecifiedPropertyExpand", ErrorCategory.InvalidOperation, item));
                    }
                    Write(target);
                }
                else Write(item);
            }
            return;
        }
        if (_specs.Count == 0) { Write(input); return; }

        var result = new PSObject();
        foreach (var (name, val) in Selected(input))
        {
            if (result.Properties[name] == null) result.Properties.Add(new PSNoteProperty(name, val));
        }
        string typeName = input.TypeNames.Count > 0 ? input.TypeNames[0] : input.BaseObject?.GetType().FullName;
        if (typeName != null) result.TypeNames.Insert(0, "Selected." + typeName);
        Write(result);
    }

    private IEnumerable<(string, object)> Selected(PSObject input)
    {
        foreach (PropertySpec spec in _specs)
        {
            if (spec.IsWildcardName || spec.Expression.HasWildCardCharacters)
            {
                foreach (PSPropertyExpression resolved in spec.Expression.ResolveNames(input))
                {
                    string name = resolved.ToString();
                    if (_exclude.Any(e => e.IsMatch(name))) continue;
                    yield return (name, resolved.GetValues(input, false, true).FirstOrDefault()?.Result);
                }
            }
            else
            {
                string name = spec.Label;
                if (_exclude.Any(e => e.IsMatch(name))) continue;
                object value = null;
                var results = spec.Expression.GetValues(input, false, true);
                if (results.Count > 0)
                {
                    if (results[0].Exception != null && spec.Expression.Script != null)
                    {
                        WriteError(new ErrorRecord(results[0].Exception, "PropertyEvaluation", ErrorCategory.InvalidResult, input));
                    }
                    value = results[0].Result;
                }
                yield return (name, value);
            }
        }
    }

    private void Write(object o)
    {
        if (Unique)
        {
            object key = UniqueKey(o);
            if (_uniqueKeys.Any(k => KeysEqual(k, key))) return;
            _uniqueKeys.Add(key);
        }
        _written++;
        WriteObject(o);
    }

    private static object UniqueKey(object o)
    {
        PSObject p = PSObject.AsPSObject(o);
        if (p.BaseObject is PSCustomObject)
            return p.Properties.Select(x => { try { return x.Value; } catch { return null; } }).ToArray();
        return p.BaseObject;
    }

    private bool KeysEqual(object a, object b)
    {
        if (a is object[] x && b is object[] y)
            return x.Length == y.Length && x.Zip(y).All(t => ObjectCompare.AreEqual(t.First, t.Second, !CaseInsensitive, CultureInfo.CurrentCulture));
        return ObjectCompare.AreEqual(a, b, !CaseInsensitive, CultureInfo.CurrentCulture);
    }
}

[Cmdlet("Sort", "Object", DefaultParameterSetName = "Default")]
public sealed class SortObjectCommand : PSCmdlet
{
    private readonly List<PSObject> _items = new();

    [Parameter(Position = 0)] public object[] Property { get; set; }
    [Parameter] public SwitchParameter Descending { get; set; }
    [Parameter] public SwitchParameter Unique { get; set; }
    [Parameter] public SwitchParameter CaseSensitive { get; set; }
    [Parameter] public string Culture { get; set; }
    [Parameter(ParameterSetName = "Default")] public SwitchParameter Stable { get; set; }
    [Parameter(ParameterSetName = "Top", Mandatory = true)] [ValidateRange(1, int.MaxValue)] public int Top { get; set; }
    [Parameter(ParameterSetName = "Bottom", Mandatory = true)] [ValidateRange(1, int.MaxValue)] public int Bottom { get; set; }
    [Parameter(ValueFromPipeline = true)] public PSObject InputObject { get; set; }

    protected override void ProcessRecord()
    {
        if (InputObject != null && InputObject != AutomationNull.Value) _items.Add(InputObject);
    }

    protected override void EndProcessing()
    {
        CultureInfo culture = Culture != null ? CultureInfo.GetCultureInfo(Culture) : CultureInfo.CurrentCulture;
        var specs = PropertySpec.Parse(this, Property, forSort: true);
        if (specs.Count == 0 && _items.Count > 0)
        {
            // As the real cmdlet: the type's DefaultKeyPropertySet, else the objects themselves.
            var keys = _items[0].Members["PSStandardMembers"] is PSMemberSet ms && ms.Members["DefaultKeyPropertySet"] is PSPropertySet ps
                ? ps.ReferencedPropertyNames : null;
            if (keys != null) specs = PropertySpec.Parse(this, keys.Cast<object>().ToArray(), forSort: true);
        }
        List<object[]> keyValues = _items.Select(o => specs.Count == 0
                ? new object[] { o.BaseObject }
                : specs.SelectMany(s => s.IsWildcardName
                    ? s.Expression.ResolveNames(o).Select(r => r.GetValues(o, false, true).FirstOrDefault()?.Result)
                    : new[] { s.ValueOf(o) }).ToArray())
            .ToList();
        var order = Enumerable.Range(0, _items.Count).ToList();
        int Cmp(int i, int j)
        {
            object[] a = keyValues[i], b = keyValues[j];
            for (int k = 0; k < Math.Max(a.Length, b.Length); k++)
            {
                int c = ObjectCompare.Compare(k < a.Length ? a[k] : null, k < b.Length ? b[k] : null, CaseSensitive, culture);
                bool ascending = specs.Count > k && specs[k].Ascending.HasValue ? specs[k].Ascending.Value : !Descending;
                if (ParameterSetName == "Bottom") ascending = !ascending;
                if (c != 0) return ascending ? c : -c;
            }
            return 0;
        }
        order = order.OrderBy(i => i, Comparer<int>.Create(Cmp)).ToList();
        if (Unique)
        {
            var unique = new List<int>();
            foreach (int i in order)
            {
                if (unique.Count == 0 || Cmp(unique[^1], i) != 0) unique.Add(i);
            }
            order = unique;
        }
        if (ParameterSetName == "Top") order = order.Take(Top).ToList();
        if (ParameterSetName == "Bottom") { order = order.Take(Bottom).ToList(); order.Reverse(); }
        foreach (int i in order) WriteObject(_items[i]);
    }
}

/// <summary>One group made by Group-Object.</summary>
public class GroupInfo
{
    internal GroupInfo(string name, ArrayList values)
    {
        Name = name;
        Values = values;
        Group = new Collection<PSObject>();
    }

    public int Count => Group.Count;
    public ArrayList Values { get; }
    public Collection<PSObject> Group { get; }
    public string Name { get; }
    public override string ToString() => Name;
}

public sealed class GroupInfoNoElement : GroupInfo
{
    internal GroupInfoNoElement(string name, ArrayList values) : base(name, values) { }
    public new int Count { get; internal set; }
}

[Cmdlet(VerbsData.Group, "Object", DefaultParameterSetName = "Default")]
public sealed class GroupObjectCommand : PSCmdlet
{
    private readonly List<(object[] Key, GroupInfo Info, int Count)> _groups = new();

    [Parameter(Position = 0)] public object[] Property { get; set; }
    [Parameter] public SwitchParameter NoElement { get; set; }
    [Parameter(ParameterSetName = "HashTable")] [Alias("AHT")] public SwitchParameter AsHashTable { get; set; }
    [Parameter(ParameterSetName = "HashTable")] public SwitchParameter AsString { get; set; }
    [Parameter] public string Culture { get; set; }
    [Parameter] public SwitchParameter CaseSensitive { get; set; }
    [Parameter(ValueFromPipeline = true)] public PSObject InputObject { get; set; }

    private List<PropertySpec> _specs;

    protected override void BeginProcessing() => _specs = PropertySpec.Parse(this, Property);

    protected override void ProcessRecord()
    {
        if (InputObject == null || InputObject == AutomationNull.Value) return;
        object[] key = _specs.Count == 0 ? new[] { InputObject.BaseObject } : _specs.Select(s => s.ValueOf(InputObject)).ToArray();
        CultureInfo culture = Culture != null ? CultureInfo.GetCultureInfo(Culture) : CultureInfo.CurrentCulture;
        for (int i = 0; i < _groups.Count; i++)
        {
            var g = _groups[i];
            if (g.Key.Length == key.Length && g.Key.Zip(key).All(t => ObjectCompare.Compare(t.First, t.Second, CaseSensitive, culture) == 0))
            {
                if (!NoElement) g.Info.Group.Add(InputObject);
                _groups[i] = (g.Key, g.Info, g.Count + 1);
                return;
            }
        }
        string name = string.Join(", ", key.Select(k => LanguagePrimitives.ConvertTo<string>(k)));
        var values = new ArrayList(key);
        GroupInfo info = NoElement ? new GroupInfoNoElement(name, values) : new GroupInfo(name, values);
        if (!NoElement) info.Group.Add(InputObject);
        _groups.Add((key, info, 1));
    }

    protected override void EndProcessing()
    {
        if (AsHashTable)
        {
            var table = CaseSensitive ? new Hashtable() : new Hashtable(StringComparer.CurrentCultureIgnoreCase);
            if (!AsString && _specs.Count <= 1) table = new Hashtable();
            foreach (var g in _groups)
            {
                object key = AsString ? g.Info.Name : g.Key.Length == 1 ? PSObject.AsPSObject(g.Key[0]).BaseObject : g.Info.Name;
                table[key ?? string.Empty] = g.Info.Group;
            }
            WriteObject(table);
            return;
        }
        foreach (var g in _groups)
        {
            if (g.Info is GroupInfoNoElement ne) ne.Count = g.Count;
            WriteObject(g.Info);
        }
    }
}

public abstract class MeasureInfo
{
    public string Property { get; set; }
}

public sealed class GenericMeasureInfo : MeasureInfo
{
    public int Count { get; set; }
    public double? Average { get; set; }
    public double? Sum { get; set; }
    public object Maximum { get; set; }
    public object Minimum { get; set; }
    public double? StandardDeviation { get; set; }
}

public sealed class TextMeasureInfo : MeasureInfo
{
    public int? Lines { get; set; }
    public int? Words { get; set; }
    public int? Characters { get; set; }
}

[Cmdlet(VerbsDiagnostic.Measure, "Object", DefaultParameterSetName = "GenericMeasure")]
public sealed class MeasureObjectCommand : PSCmdlet
{
    private readonly List<PSObject> _items = new();

    [Parameter(ValueFromPipeline = true)] public PSObject InputObject { get; set; }
    [Parameter(Position = 0)] public PSPropertyExpression[] Property { get; set; }
    [Parameter(ParameterSetName = "GenericMeasure")] public SwitchParameter StandardDeviation { get; set; }
    [Parameter(ParameterSetName = "GenericMeasure")] public SwitchParameter Sum { get; set; }
    [Parameter(ParameterSetName = "GenericMeasure")] public SwitchParameter AllStats { get; set; }
    [Parameter(ParameterSetName = "GenericMeasure")] public SwitchParameter Average { get; set; }
    [Parameter(ParameterSetName = "GenericMeasure")] public SwitchParameter Maximum { get; set; }
    [Parameter(ParameterSetName = "GenericMeasure")] public SwitchParameter Minimum { get; set; }
    [Parameter(ParameterSetName = "TextMeasure")] public SwitchParameter Line { get; set; }
    [Parameter(ParameterSetName = "TextMeasure")] public SwitchParameter Word { get; set; }
    [Parameter(ParameterSetName = "TextMeasure")] public SwitchParameter Character { get; set; }
    [Parameter(ParameterSetName = "TextMeasure")] public SwitchParameter IgnoreWhiteSpace { get; set; }

    protected override void ProcessRecord()
    {
        if (InputObject != null && InputObject != AutomationNull.Value) _items.Add(InputObject);
    }

    protected override void EndProcessing()
    {
        if (ParameterSetName == "TextMeasure")
        {
            string all = string.Join("\n", _items.Select(i => LanguagePrimitives.ConvertTo<string>(i)));
            WriteObject(new TextMeasureInfo
            {
                Lines = Line ? _items.Sum(i => LanguagePrimitives.ConvertTo<string>(i).Split('\n').Length) : null,
                Words = Word ? all.Split((char[])null, StringSplitOptions.RemoveEmptyEntries).Length : null,
                Characters = Character ? _items.Sum(i => (IgnoreWhiteSpace ? LanguagePrimitives.ConvertTo<string>(i).Count(c => !char.IsWhiteSpace(c)) : LanguagePrimitives.ConvertTo<string>(i).Length)) : null,
            });
            return;
        }
        bool all2 = AllStats;
        if (Property == null || Property.Length == 0)
        {
            WriteObject(Measure(_items.Select(i => (object)i).ToList(), null, all2));
            return;
        }
        foreach (PSPropertyExpression p in Property)
        {
            var values = new List<object>();
            string name = p.ToString();
            foreach (PSObject item in _items)
            {
                foreach (PSPropertyExpression r in p.ResolveNames(item))
                {
                    name = r.ToString();
                    var v = r.GetValues(item, false, true).FirstOrDefault();
                    if (v != null) values.Add(v.Result);
                }
            }
            if (values.Count == 0 && _items.Count > 0)
            {
                WriteError(new ErrorRecord(new PSArgumentException($"The property \"{p}\" cannot be found in the input for any objects."),
                    "GenericMeasurePropertyNotFound", ErrorCategory.InvalidArgument, p));
                continue;
            }
            WriteObject(Measure(values, name, all2));
        }
    }

    private GenericMeasureInfo Measure(List<object> values, string property, bool all)
    {
        var info = new GenericMeasureInfo { Property = property, Count = values.Count };
        bool wantNumbers = Sum || Average || StandardDeviation || all;
        bool wantMinMax = Maximum || Minimum || all;
        if (wantNumbers)
        {
            var numbers = values.Where(v => v != null).Select(v => LanguagePrimitives.ConvertTo<double>(v)).ToList();
            if (Sum || all) info.Sum = numbers.Sum();
            if (Average || all) info.Average = numbers.Count > 0 ? numbers.Average() : null;
            if ((StandardDeviation || all) && numbers.Count > 1)
            {
                double mean = numbers.Average();
                info.StandardDeviation = Math.Sqrt(numbers.Sum(n => (n - mean) * (n - mean)) / (numbers.Count - 1));
            }
        }
        if (wantMinMax)
        {
            var nonNull = values.Where(v => v != null).Select(v => PSObject.AsPSObject(v).BaseObject).ToList();
            bool numeric = nonNull.All(v => v is IConvertible && double.TryParse(Convert.ToString(v, CultureInfo.InvariantCulture), NumberStyles.Any, CultureInfo.InvariantCulture, out _));
            if (numeric && nonNull.Count > 0)
            {
                var d = nonNull.Select(v => LanguagePrimitives.ConvertTo<double>(v)).ToList();
                if (Maximum || all) info.Maximum = d.Max();
                if (Minimum || all) info.Minimum = d.Min();
            }
            else if (nonNull.Count > 0)
            {
                var sorted = nonNull.OrderBy(v => v, Comparer<object>.Create((a, b) => ObjectCompare.Compare(a, b, false, CultureInfo.CurrentCulture))).ToList();
                if (Maximum || all) info.Maximum = sorted[^1];
                if (Minimum || all) info.Minimum = sorted[0];
            }
        }
        return info;
    }
}

/// <summary>One member listed by Get-Member.</summary>
public class MemberDefinition
{
    public MemberDefinition(string typeName, string name, PSMemberTypes memberType, string definition)
    {
        TypeName = typeName;
        Name = name;
        MemberType = memberType;
        Definition = definition;
    }

    public string TypeName { get; }
    public string Name { get; }
    public PSMemberTypes MemberType { get; }
    public string Definition { get; }
    public override string ToString() => Definition;
}

[Cmdlet(VerbsCommon.Get, "Member")]
[OutputType(typeof(MemberDefinition))]
public sealed class GetMemberCommand : PSCmdlet
{
    private readonly HashSet<string> _typesSeen = new(StringComparer.OrdinalIgnoreCase);

    [Parameter(ValueFromPipeline = true)] public PSObject InputObject { get; set; }
    [Parameter(Position = 0)] [ValidateNotNullOrEmpty] public string[] Name { get; set; } = { "*" };
    [Parameter] [Alias("Type")] public PSMemberTypes MemberType { get; set; } = PSMemberTypes.All;
    [Parameter] public PSMemberViewTypes View { get; set; } = PSMemberViewTypes.Adapted | PSMemberViewTypes.Extended;
    [Parameter] public SwitchParameter Static { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }

    private static readonly HashSet<string> Intrinsic = new(StringComparer.OrdinalIgnoreCase)
        { "psbase", "psadapted", "psextended", "psobject", "pstypenames" };

    protected override void ProcessRecord()
    {
        if (InputObject == null || InputObject == AutomationNull.Value) return;
        var patterns = Name.Select(n => new WildcardPattern(n, WildcardOptions.IgnoreCase)).ToArray();
        if (Static)
        {
            Type t = InputObject.BaseObject as Type ?? InputObject.BaseObject.GetType();
            if (!_typesSeen.Add("static:" + t.FullName)) return;
            var statics = new List<MemberDefinition>();
            foreach (var m in t.GetMembers(BindingFlags.Public | BindingFlags.Static))
            {
                if (m is MethodInfo mi && mi.IsSpecialName) continue;
                PSMemberTypes kind = m.MemberType switch
                {
                    MemberTypes.Method => PSMemberTypes.Method,
                    MemberTypes.Event => PSMemberTypes.Event,
                    _ => PSMemberTypes.Property,
                };
                if ((kind & MemberType) == 0 || !patterns.Any(p => p.IsMatch(m.Name))) continue;
                if (statics.Any(s => s.Name == m.Name)) continue;
                string def = m is MethodInfo ? string.Join(", ", t.GetMethods(BindingFlags.Public | BindingFlags.Static).Where(x => x.Name == m.Name).Select(x => $"static {x.ReturnType.Name} {x.Name}({string.Join(", ", x.GetParameters().Select(p => p.ParameterType.Name + " " + p.Name))})"))
                    : m is PropertyInfo pi ? $"static {pi.PropertyType.FullName} {pi.Name} {{get;}}"
                    : m is FieldInfo fi ? $"static {fi.FieldType.FullName} {fi.Name}" : m.ToString();
                statics.Add(new MemberDefinition(t.FullName, m.Name, kind, def));
            }
            foreach (var d in statics.OrderBy(d => d.MemberType.ToString()).ThenBy(d => d.Name, StringComparer.OrdinalIgnoreCase)) WriteObject(d);
            return;
        }

        string typeName = InputObject.TypeNames.Count > 0 ? InputObject.TypeNames[0] : InputObject.BaseObject.GetType().FullName;
        if (!_typesSeen.Add(typeName)) return;
        var members = new List<MemberDefinition>();
        foreach (PSMemberInfo m in InputObject.Members)
        {
            if (!Force && Intrinsic.Contains(m.Name)) continue;
            if (!Force && m.MemberType == PSMemberTypes.MemberSet && m.Name == "PSStandardMembers") continue;
            if ((m.MemberType & MemberType) == 0) continue;
            if (!patterns.Any(p => p.IsMatch(m.Name))) continue;
            bool extended = m.MemberType is not (PSMemberTypes.Property or PSMemberTypes.Method or PSMemberTypes.ParameterizedProperty or PSMemberTypes.Event);
            if (m is PSProperty || m is PSMethod || m.MemberType == PSMemberTypes.ParameterizedProperty || m.MemberType == PSMemberTypes.Event) extended = false;
            if (extended && (View & PSMemberViewTypes.Extended) == 0) continue;
            if (!extended && (View & (PSMemberViewTypes.Adapted | PSMemberViewTypes.Base)) == 0) continue;
            string definition;
            try { definition = m.ToString(); } catch (Exception) { definition = m.Name; }
            members.Add(new MemberDefinition(typeName, m.Name, m.MemberType, definition));
        }
        foreach (var d in members.OrderBy(d => d.MemberType.ToString(), StringComparer.Ordinal).ThenBy(d => d.Name, StringComparer.OrdinalIgnoreCase))
        {
            WriteObject(d);
        }
    }

    protected override void EndProcessing()
    {
        if (_typesSeen.Count == 0)
        {
            WriteError(new ErrorRecord(new InvalidOperationException("You must specify an object for the Get-Member cmdlet."),
                "NoObjectInGetMember", ErrorCategory.CloseError, null));
        }
    }
}

[Cmdlet(VerbsCommon.New, "Object", DefaultParameterSetName = "Net")]
public sealed class NewObjectCommand : PSCmdlet
{
    [Parameter(ParameterSetName = "Net", Mandatory = true, Position = 0)] public string TypeName { get; set; }
    [Parameter(ParameterSetName = "Com", Mandatory = true, Position = 0)] public string ComObject { get; set; }
    [Parameter(ParameterSetName = "Net", Position = 1)] [Alias("Args")] public object[] ArgumentList { get; set; }
    [Parameter] public IDictionary Property { get; set; }

    protected override void BeginProcessing()
    {
        if (ComObject != null)
        {
            ThrowTerminatingError(new ErrorRecord(new PlatformNotSupportedException("COM objects are not supported on this platform."),
                "NoCOMClassIdentified", ErrorCategory.InvalidType, ComObject));
        }
        Type type;
        try
        {
            type = LanguagePrimitives.ConvertTo<Type>(TypeName);
        }
        catch (PSInvalidCastException)
        {
            ThrowTerminatingError(new ErrorRecord(new PSArgumentException($"Cannot find type [{TypeName}]: verify that the assembly containing this type is loaded."),
                "TypeNotFound", ErrorCategory.InvalidType, TypeName));
            return;
        }
        PSObject result;
        if (type == typeof(PSObject) || type == typeof(PSCustomObject))
        {
            result = new PSObject();
        }
        else
        {
            ScriptBlock create = ScriptBlock.Create("param($t, $a) if ($null -eq $a -or $a.Count -eq 0) { $t::new() } else { $t::new.Invoke([object[]]$a) }");
            try
            {
                var created = create.Invoke(type, ArgumentList);
                result = created.Count > 0 ? created[0] : null;
            }
            catch (RuntimeException e)
            {
                Exception inner = e.InnerException ?? e;
                ThrowTerminatingError(new ErrorRecord(new MethodInvocationException(
                    $"Exception calling \".ctor\" with \"{ArgumentList?.Length ?? 0}\" argument(s): \"{inner.Message}\"", inner),
                    "ConstructorInvokedThrowException", ErrorCategory.InvalidOperation, null));
                return;
            }
        }
        if (Property != null && result != null)
        {
            foreach (DictionaryEntry e in Property)
            {
                string name = e.Key.ToString();
                PSPropertyInfo prop = result.Properties[name];
                if (prop != null)
                {
                    try { prop.Value = e.Value; }
                    catch (Exception ex) { WriteError(new ErrorRecord(ex, "SetValueException", ErrorCategory.InvalidData, result)); }
                }
                else if (result.BaseObject is PSCustomObject)
                {
                    result.Properties.Add(new PSNoteProperty(name, e.Value));
                }
                else
                {
                    WriteError(new ErrorRecord(new InvalidOperationException($"The value supplied is not valid, or the property is read-only. Change the value, and then try again."),
                        "InvalidOperationException", ErrorCategory.InvalidData, name));
                }
            }
        }
        WriteObject(result);
    }
}

[Cmdlet(VerbsCommon.Add, "Member", DefaultParameterSetName = "TypeNameSet")]
public sealed class AddMemberCommand : PSCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "MemberSet")]
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "TypeNameSet")]
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "NotePropertySingleMemberSet")]
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "NotePropertyMultiMemberSet")]
    public PSObject InputObject { get; set; }

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "MemberSet")] [Alias("Type")] public PSMemberTypes MemberType { get; set; }
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = "MemberSet")] public string Name { get; set; }
    [Parameter(Position = 2, ParameterSetName = "MemberSet")] public object Value { get; set; }
    [Parameter(Position = 3, ParameterSetName = "MemberSet")] public object SecondValue { get; set; }

    [Parameter(ParameterSetName = "MemberSet")]
    [Parameter(Mandatory = true, ParameterSetName = "TypeNameSet")]
    [Parameter(ParameterSetName = "NotePropertySingleMemberSet")]
    [Parameter(ParameterSetName = "NotePropertyMultiMemberSet")]
    [ValidateNotNullOrEmpty] public string TypeName { get; set; }

    [Parameter(ParameterSetName = "MemberSet")]
    [Parameter(ParameterSetName = "NotePropertySingleMemberSet")]
    [Parameter(ParameterSetName = "NotePropertyMultiMemberSet")]
    public SwitchParameter Force { get; set; }

    [Parameter] public SwitchParameter PassThru { get; set; }

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "NotePropertySingleMemberSet")] [ValidateNotNullOrEmpty] public string NotePropertyName { get; set; }
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = "NotePropertySingleMemberSet")] [AllowNull] public object NotePropertyValue { get; set; }
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "NotePropertyMultiMemberSet")] [ValidateNotNullOrEmpty] public IDictionary NotePropertyMembers { get; set; }

    protected override void ProcessRecord()
    {
        if (TypeName != null) InputObject.TypeNames.Insert(0, TypeName);
        switch (ParameterSetName)
        {
            case "NotePropertySingleMemberSet":
                Add(new PSNoteProperty(NotePropertyName, NotePropertyValue));
                break;
            case "NotePropertyMultiMemberSet":
                foreach (DictionaryEntry e in NotePropertyMembers) Add(new PSNoteProperty(e.Key.ToString(), e.Value));
                break;
            case "MemberSet":
                PSMemberInfo member = MemberType switch
                {
                    PSMemberTypes.NoteProperty => new PSNoteProperty(Name, Value),
                    PSMemberTypes.AliasProperty => SecondValue != null
                        ? new PSAliasProperty(Name, Value?.ToString(), LanguagePrimitives.ConvertTo<Type>(SecondValue))
                        : new PSAliasProperty(Name, Value?.ToString()),
                    PSMemberTypes.ScriptProperty => new PSScriptProperty(Name, Value as ScriptBlock ?? (Value == null ? null : ScriptBlock.Create(Value.ToString())),
                        SecondValue as ScriptBlock ?? (SecondValue == null ? null : ScriptBlock.Create(SecondValue.ToString()))),
                    PSMemberTypes.ScriptMethod => new PSScriptMethod(Name, Value as ScriptBlock ?? ScriptBlock.Create(Value?.ToString() ?? "")),
                    PSMemberTypes.PropertySet => new PSPropertySet(Name, LanguagePrimitives.ConvertTo<string[]>(Value)),
                    PSMemberTypes.MemberSet => new PSMemberSet(Name, LanguagePrimitives.ConvertTo<PSMemberInfo[]>(Value) ?? Array.Empty<PSMemberInfo>()),
                    _ => null,
                };
                if (member == null)
                {
                    ThrowTerminatingError(new ErrorRecord(new PSArgumentException($"Cannot add a member with type \"{MemberType}\"."),
                        "CannotAddMemberType", ErrorCategory.InvalidOperation, null));
                }
                Add(member);
                break;
        }
        if (PassThru) WriteObject(InputObject);
    }

    private void Add(PSMemberInfo member)
    {
        if (InputObject.Members[member.Name] != null)
        {
            if (!Force)
            {
                WriteError(new ErrorRecord(new InvalidOperationException(
                    $"Cannot add a member with the name \"{member.Name}\" because a member with that name already exists. To overwrite the member anyway, add the Force parameter to your command."),
                    "MemberAlreadyExists", ErrorCategory.InvalidOperation, InputObject));
                return;
            }
            try { InputObject.Members.Remove(member.Name); } catch (Exception) { }
        }
        InputObject.Members.Add(member);
    }
}

[Cmdlet(VerbsData.Compare, "Object")]
public sealed class CompareObjectCommand : PSCmdlet
{
    private readonly List<PSObject> _difference = new();

    [Parameter(Position = 0, Mandatory = true)] [AllowEmptyCollection] public PSObject[] ReferenceObject { get; set; }
    [Parameter(Position = 1, Mandatory = true, ValueFromPipeline = true)] [AllowEmptyCollection] public PSObject[] DifferenceObject { get; set; }
    [Parameter] [ValidateRange(0, int.MaxValue)] public int SyncWindow { get; set; } = int.MaxValue;
    [Parameter] public object[] Property { get; set; }
    [Parameter] public SwitchParameter ExcludeDifferent { get; set; }
    [Parameter] public SwitchParameter IncludeEqual { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }
    [Parameter] public string Culture { get; set; }
    [Parameter] public SwitchParameter CaseSensitive { get; set; }

    protected override void ProcessRecord()
    {
        if (DifferenceObject != null) _difference.AddRange(DifferenceObject.Where(d => d != null));
    }

    protected override void EndProcessing()
    {
        var specs = PropertySpec.Parse(this, Property);
        CultureInfo culture = Culture != null ? CultureInfo.GetCultureInfo(Culture) : CultureInfo.CurrentCulture;
        object[] Key(PSObject o) => specs.Count == 0 ? new object[] { o } : specs.Select(s => s.ValueOf(o)).ToArray();
        bool Same(object[] a, object[] b) => a.Zip(b).All(t => ObjectCompare.AreEqual(t.First, t.Second, CaseSensitive, culture));

        var reference = (ReferenceObject ?? Array.Empty<PSObject>()).Where(r => r != null).ToList();
        var refKeys = reference.Select(Key).ToList();
        var used = new bool[reference.Count];
        foreach (PSObject d in _difference)
        {
            object[] dk = Key(d);
            int match = -1;
            for (int i = 0; i < reference.Count; i++)
            {
                if (!used[i] && Same(refKeys[i], dk)) { match = i; break; }
            }
            if (match >= 0)
            {
                used[match] = true;
                if (IncludeEqual) Emit(reference[match], refKeys[match], specs, "==");
            }
            else if (!ExcludeDifferent) Emit(d, dk, specs, "=>");
        }
        if (!ExcludeDifferent)
        {
            for (int i = 0; i < reference.Count; i++)
            {
                if (!used[i]) Emit(reference[i], refKeys[i], specs, "<=");
            }
        }
    }

    private void Emit(PSObject o, object[] key, List<PropertySpec> specs, string side)
    {
        if (PassThru)
        {
            PSObject copy = PSObject.AsPSObject(o.BaseObject is PSCustomObject ? o : o.Copy());
            copy.Properties.Remove("SideIndicator");
            copy.Properties.Add(new PSNoteProperty("SideIndicator", side));
            WriteObject(copy);
            return;
        }
        var result = new PSObject();
        if (specs.Count == 0) result.Properties.Add(new PSNoteProperty("InputObject", o));
        else for (int i = 0; i < specs.Count; i++) result.Properties.Add(new PSNoteProperty(specs[i].Label, key[i]));
        result.Properties.Add(new PSNoteProperty("SideIndicator", side));
        WriteObject(result);
    }
}

[Cmdlet(VerbsCommon.Get, "Unique", DefaultParameterSetName = "AsString")]
public sealed class GetUniqueCommand : PSCmdlet
{
    private object _last;
    private bool _any;

    [Parameter(ValueFromPipeline = true)] public PSObject InputObject { get; set; }
    [Parameter(ParameterSetName = "AsString")] public SwitchParameter AsString { get; set; }
    [Parameter(ParameterSetName = "UniqueByType")] public SwitchParameter OnType { get; set; }
    [Parameter] public SwitchParameter CaseInsensitive { get; set; }

    protected override void ProcessRecord()
    {
        if (InputObject == null || InputObject == AutomationNull.Value) return;
        object key = OnType ? InputObject.TypeNames.FirstOrDefault() : AsString ? InputObject.ToString() : InputObject.BaseObject;
        if (_any && ObjectCompare.AreEqual(_last, key, !CaseInsensitive, CultureInfo.CurrentCulture)) return;
        _any = true;
        _last = key;
        WriteObject(InputObject);
    }
}

[Cmdlet("Tee", "Object", DefaultParameterSetName = "File")]
public sealed class TeeObjectCommand : PSCmdlet
{
    private readonly List<PSObject> _items = new();

    [Parameter(ValueFromPipeline = true)] public PSObject InputObject { get; set; }
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "File")] [Alias("Path")] public string FilePath { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "LiteralFile")] [Alias("PSPath", "LP")] public string LiteralPath { get; set; }
    [Parameter(ParameterSetName = "File")] public SwitchParameter Append { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "Variable")] public string Variable { get; set; }

    protected override void ProcessRecord()
    {
        if (InputObject == null || InputObject == AutomationNull.Value) return;
        _items.Add(InputObject);
        WriteObject(InputObject);
    }

    protected override void EndProcessing()
    {
        if (Variable != null)
        {
            SessionState.PSVariable.Set(Variable, _items.Count == 1 ? (object)_items[0] : _items.ToArray());
            return;
        }
        string path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(FilePath ?? LiteralPath);
        var text = InvokeCommand.InvokeScript(false, ScriptBlock.Create("param($i) $i | Out-String"), null, new object[] { _items.ToArray() });
        string s = string.Concat(text.Select(t => t?.ToString()));
        if (Append) File.AppendAllText(path, s); else File.WriteAllText(path, s);
    }
}
