using System.Collections;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using System.Management.Automation.Runspaces;

namespace Microsoft.PowerShell.Commands;

public enum DisplayHintType { Date, Time, DateTime }

[Cmdlet(VerbsCommon.Get, "Date", DefaultParameterSetName = "DateAndFormat")]
public sealed class GetDateCommand : PSCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "DateAndFormat")]
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "DateAndUFormat")]
    [Alias("LastWriteTime")]
    public DateTime Date { get; set; }

    [Parameter(ParameterSetName = "UnixTimeSecondsAndFormat", Mandatory = true)]
    [Parameter(ParameterSetName = "UnixTimeSecondsAndUFormat", Mandatory = true)]
    [Alias("UnixTime")]
    public long UnixTimeSeconds { get; set; }

    [Parameter] [ValidateRange(1, 9999)] public int Year { get; set; }
    [Parameter] [ValidateRange(1, 12)] public int Month { get; set; }
    [Parameter] [ValidateRange(1, 31)] public int Day { get; set; }
    [Parameter] [ValidateRange(0, 23)] public int Hour { get; set; }
    [Parameter] [ValidateRange(0, 59)] public int Minute { get; set; }
    [Parameter] [ValidateRange(0, 59)] public int Second { get; set; }
    [Parameter] [ValidateRange(0, 999)] public int Millisecond { get; set; }
    [Parameter] public DisplayHintType DisplayHint { get; set; } = DisplayHintType.DateTime;

    [Parameter(ParameterSetName = "DateAndUFormat", Mandatory = true)]
    [Parameter(ParameterSetName = "UnixTimeSecondsAndUFormat", Mandatory = true)]
    public string UFormat { get; set; }

    [Parameter(ParameterSetName = "DateAndFormat")]
    [Parameter(ParameterSetName = "UnixTimeSecondsAndFormat")]
    [ArgumentCompletions("FileDate", "FileDateUniversal", "FileDateTime", "FileDateTimeUniversal")]
    public string Format { get; set; }

    [Parameter] public SwitchParameter AsUTC { get; set; }

    protected override void ProcessRecord()
    {
        var bound = MyInvocation.BoundParameters;
        DateTime d = bound.ContainsKey(nameof(Date)) ? Date
            : bound.ContainsKey(nameof(UnixTimeSeconds)) ? DateTimeOffset.FromUnixTimeSeconds(UnixTimeSeconds).LocalDateTime
            : DateTime.Now;
        if (bound.ContainsKey(nameof(Year))) d = d.AddYears(Year - d.Year);
        if (bound.ContainsKey(nameof(Month))) d = d.AddMonths(Month - d.Month);
        if (bound.ContainsKey(nameof(Day))) d = d.AddDays(Day - d.Day);
        if (bound.ContainsKey(nameof(Hour))) d = d.AddHours(Hour - d.Hour);
        if (bound.ContainsKey(nameof(Minute))) d = d.AddMinutes(Minute - d.Minute);
        if (bound.ContainsKey(nameof(Second))) d = d.AddSeconds(Second - d.Second);
        if (bound.ContainsKey(nameof(Millisecond))) d = d.AddMilliseconds(Millisecond - d.Millisecond);
        if (AsUTC) d = d.ToUniversalTime();

        if (Format != null)
        {
            string f = Format switch
            {
                "FileDate" => "yyyyMMdd",
                "FileDateUniversal" => null,
                "FileDateTime" => "yyyyMMddTHHmmssffff",
                "FileDateTimeUniversal" => null,
                _ => Format,
            };
            if (Format == "FileDateUniversal") WriteObject(d.ToUniversalTime().ToString("yyyyMMddZ", CultureInfo.CurrentCulture));
            else if (Format == "FileDateTimeUniversal") WriteObject(d.ToUniversalTime().ToString("yyyyMMddTHHmmssffffZ", CultureInfo.CurrentCulture));
            else WriteObject(d.ToString(f, CultureInfo.CurrentCulture));
            return;
        }
        if (UFormat != null) { WriteObject(UFormatDate(d, UFormat)); return; }
        var pso = new PSObject(d);
        pso.Properties.Add(new PSNoteProperty("DisplayHint", DisplayHint));
        WriteObject(pso);
    }

    private static string UFormatDate(DateTime d, string format)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { sb.Append(format[i]); continue; }
            char c = format[++i];
            sb.Append(c switch
            {
                'a' => d.ToString("ddd", CultureInfo.CurrentCulture),
                'A' => d.ToString("dddd", CultureInfo.CurrentCulture),
                'b' or 'h' => d.ToString("MMM", CultureInfo.CurrentCulture),
                'B' => d.ToString("MMMM", CultureInfo.CurrentCulture),
                'C' => (d.Year / 100).ToString("00", CultureInfo.InvariantCulture),
                'd' => d.ToString("dd", CultureInfo.InvariantCulture),
                'D' => d.ToString("MM/dd/yy", CultureInfo.InvariantCulture),
                'e' => d.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2),
                'F' => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                'H' => d.ToString("HH", CultureInfo.InvariantCulture),
                'I' => d.ToString("hh", CultureInfo.InvariantCulture),
                'j' => d.DayOfYear.ToString("000", CultureInfo.InvariantCulture),
                'k' => d.Hour.ToString(CultureInfo.InvariantCulture).PadLeft(2),
                'l' => d.ToString("%h", CultureInfo.InvariantCulture).PadLeft(2),
                'm' => d.ToString("MM", CultureInfo.InvariantCulture),
                'M' => d.ToString("mm", CultureInfo.InvariantCulture),
                'n' => "\n",
                'p' => d.ToString("tt", CultureInfo.InvariantCulture),
                'R' => d.ToString("HH:mm", CultureInfo.InvariantCulture),
                's' => ((long)(d.ToUniversalTime() - DateTime.UnixEpoch).TotalSeconds).ToString(CultureInfo.InvariantCulture),
                'S' => d.ToString("ss", CultureInfo.InvariantCulture),
                't' => "\t",
                'T' => d.ToString("HH:mm:ss", CultureInfo.InvariantCulture),
                'u' => ((int)d.DayOfWeek == 0 ? 7 : (int)d.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                'w' => ((int)d.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                'y' => d.ToString("yy", CultureInfo.InvariantCulture),
                'Y' => d.ToString("yyyy", CultureInfo.InvariantCulture),
                'Z' => d.ToString("zz", CultureInfo.InvariantCulture),
                'z' => d.ToString("zzz", CultureInfo.InvariantCulture).Replace(":", ""),
                '%' => "%",
                _ => "%" + c,
            });
        }
        return sb.ToString();
    }
}

[Cmdlet(VerbsCommon.New, "TimeSpan", DefaultParameterSetName = "Date")]
public sealed class NewTimeSpanCommand : PSCmdlet
{
    [Parameter(ParameterSetName = "Date", Position = 0, ValueFromPipelineByPropertyName = true)] [Alias("LastWriteTime")] public DateTime Start { get; set; }
    [Parameter(ParameterSetName = "Date", Position = 1, ValueFromPipelineByPropertyName = true)] public DateTime End { get; set; }
    [Parameter(ParameterSetName = "Time")] public int Days { get; set; }
    [Parameter(ParameterSetName = "Time")] public int Hours { get; set; }
    [Parameter(ParameterSetName = "Time")] public int Minutes { get; set; }
    [Parameter(ParameterSetName = "Time")] public int Seconds { get; set; }
    [Parameter(ParameterSetName = "Time")] public int Milliseconds { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "Time") { WriteObject(new TimeSpan(Days, Hours, Minutes, Seconds, Milliseconds)); return; }
        var bound = MyInvocation.BoundParameters;
        DateTime s = bound.ContainsKey(nameof(Start)) ? Start : DateTime.Now;
        DateTime e = bound.ContainsKey(nameof(End)) ? End : DateTime.Now;
        WriteObject(e - s);
    }
}

[Cmdlet(VerbsLifecycle.Start, "Sleep", DefaultParameterSetName = "Seconds")]
public sealed class StartSleepCommand : PSCmdlet
{
    private readonly ManualResetEventSlim _stop = new(false);

    [Parameter(Position = 0, Mandatory = true, ParameterSetName = "Seconds", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0.0, (double)(int.MaxValue / 1000))]
    public double Seconds { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "Milliseconds", ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, int.MaxValue)] [Alias("ms")]
    public int Milliseconds { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "FromTimeSpan", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("ts")]
    public TimeSpan Duration { get; set; }

    protected override void ProcessRecord()
    {
        TimeSpan t = ParameterSetName switch
        {
            "Milliseconds" => TimeSpan.FromMilliseconds(Milliseconds),
            "FromTimeSpan" => Duration,
            _ => TimeSpan.FromSeconds(Seconds),
        };
        _stop.Wait(t);
    }

    protected override void StopProcessing() => _stop.Set();
}

public abstract class VariableCommandBase : PSCmdlet
{
    /// <summary>The variables visible from the caller, optionally from one scope, matching the patterns.</summary>
    internal List<PSVariable> Find(string[] names, string scope, string[] include, string[] exclude, bool errorIfNone)
    {
        var result = new List<PSVariable>();
        var inc = include?.Select(i => new WildcardPattern(i, WildcardOptions.IgnoreCase)).ToArray();
        var exc = exclude?.Select(i => new WildcardPattern(i, WildcardOptions.IgnoreCase)).ToArray();
        foreach (string name in names ?? new[] { "*" })
        {
            var found = new List<PSVariable>();
            if (WildcardPattern.ContainsWildcardCharacters(name))
            {
                var pattern = new WildcardPattern(name, WildcardOptions.IgnoreCase);
                IEnumerable<PSVariable> all;
                if (scope == null)
                {
                    all = SessionState.InvokeProvider.Item.Get("Variable:\\*").Select(o => o.BaseObject).OfType<PSVariable>();
                }
                else
                {
                    all = SessionState.InvokeProvider.Item.Get("Variable:\\*").Select(o => o.BaseObject).OfType<PSVariable>()
                        .Select(v => SessionState.PSVariable.Get(scope + ":" + v.Name)).Where(v => v != null);
                }
                found.AddRange(all.Where(v => pattern.IsMatch(v.Name)));
            }
            else
            {
                PSVariable v = SessionState.PSVariable.Get((scope != null ? scope + ":" : "") + name);
                if (v != null) found.Add(v);
                else if (errorIfNone)
                {
                    WriteError(new ErrorRecord(new ItemNotFoundException($"Cannot find a variable with the name '{name}'."),
                        "VariableNotFound", ErrorCategory.ObjectNotFound, name));
                }
            }
            foreach (PSVariable v in found)
            {
                if (inc != null && !inc.Any(p => p.IsMatch(v.Name))) continue;
                if (exc != null && exc.Any(p => p.IsMatch(v.Name))) continue;
                if (!result.Any(r => string.Equals(r.Name, v.Name, StringComparison.OrdinalIgnoreCase))) result.Add(v);
            }
        }
        return result;
    }

    internal static string Qualify(string scope, string name) => scope != null ? scope + ":" + name : name;
}

[Cmdlet(VerbsCommon.Get, "Variable")]
public sealed class GetVariableCommand : VariableCommandBase
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] [ValidateNotNullOrEmpty] public string[] Name { get; set; }
    [Parameter] public SwitchParameter ValueOnly { get; set; }
    [Parameter] public string[] Include { get; set; }
    [Parameter] public string[] Exclude { get; set; }
    [Parameter] [ValidateNotNullOrEmpty] public string Scope { get; set; }

    protected override void ProcessRecord()
    {
        foreach (PSVariable v in Find(Name, Scope, Include, Exclude, true).OrderBy(v => Name == null ? v.Name : "", StringComparer.OrdinalIgnoreCase))
        {
            if (ValueOnly) WriteObject(v.Value); else WriteObject(v);
        }
    }
}

[Cmdlet(VerbsCommon.Set, "Variable", SupportsShouldProcess = true)]
public sealed class SetVariableCommand : VariableCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ValueFromPipelineByPropertyName = true)] public string[] Name { get; set; }
    [Parameter(Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] public object Value { get; set; } = AutomationNull.Value;
    [Parameter] public string[] Include { get; set; }
    [Parameter] public string[] Exclude { get; set; }
    [Parameter] public string Description { get; set; }
    [Parameter] public ScopedItemOptions Option { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] public SessionStateEntryVisibility Visibility { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }
    [Parameter] [ValidateNotNullOrEmpty] public string Scope { get; set; }

    private readonly List<object> _values = new();
    private bool _fromPipeline;

    protected override void ProcessRecord()
    {
        if (MyInvocation.ExpectingInput) { _fromPipeline = true; if (Value != AutomationNull.Value) _values.Add(Value); return; }
        Apply(Value == AutomationNull.Value ? null : Value);
    }

    protected override void EndProcessing()
    {
        if (_fromPipeline) Apply(_values.Count == 0 ? null : _values.Count == 1 ? _values[0] : _values.ToArray());
    }

    private void Apply(object value)
    {
        foreach (string name in Name)
        {
            if (!ShouldProcess("Name: " + name + " Value: " + value, "Set variable")) continue;
            string q = Qualify(Scope, name);
            PSVariable existing = SessionState.PSVariable.Get(q);
            if (existing != null && Scope == null && existing.Options.HasFlag(ScopedItemOptions.Constant)) continue;
            if (existing == null || MyInvocation.BoundParameters.ContainsKey(nameof(Option)) || Description != null)
            {
                var v = new PSVariable(name, value, MyInvocation.BoundParameters.ContainsKey(nameof(Option)) ? Option : existing?.Options ?? ScopedItemOptions.None);
                if (Description != null) v.Description = Description;
                if (Scope != null) SessionState.PSVariable.Set(q, value);
                if (existing == null && Scope == null) SessionState.PSVariable.Set(v);
                else if (Scope == null) { SessionState.PSVariable.Remove(existing); SessionState.PSVariable.Set(v); }
            }
            else
            {
                SessionState.PSVariable.Set(q, value);
            }
            if (PassThru) WriteObject(SessionState.PSVariable.Get(q));
        }
    }
}

[Cmdlet(VerbsCommon.New, "Variable", SupportsShouldProcess = true)]
public sealed class NewVariableCommand : VariableCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ValueFromPipelineByPropertyName = true)] public string Name { get; set; }
    [Parameter(Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)] public object Value { get; set; }
    [Parameter] public string Description { get; set; }
    [Parameter] public ScopedItemOptions Option { get; set; }
    [Parameter] public SessionStateEntryVisibility Visibility { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }
    [Parameter] [ValidateNotNullOrEmpty] public string Scope { get; set; }

    protected override void ProcessRecord()
    {
        if (!Force && Scope == null && SessionState.PSVariable.Get("local:" + Name) != null)
        {
            WriteError(new ErrorRecord(new SessionStateException($"A variable with name '{Name}' already exists."),
                "VariableAlreadyExists", ErrorCategory.ResourceExists, Name));
            return;
        }
        if (!ShouldProcess("Name: " + Name + " Value: " + Value, "New variable")) return;
        var v = new PSVariable(Name, Value, Option) { Description = Description ?? string.Empty, Visibility = Visibility };
        if (Scope == null) SessionState.PSVariable.Set(v);
        else SessionState.PSVariable.Set(Scope + ":" + Name, Value);
        if (PassThru) WriteObject(SessionState.PSVariable.Get(Qualify(Scope, Name)));
    }
}

[Cmdlet(VerbsCommon.Remove, "Variable", SupportsShouldProcess = true)]
public sealed class RemoveVariableCommand : VariableCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ValueFromPipelineByPropertyName = true)] public string[] Name { get; set; }
    [Parameter] public string[] Include { get; set; }
    [Parameter] public string[] Exclude { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] [ValidateNotNullOrEmpty] public string Scope { get; set; }

    protected override void ProcessRecord()
    {
        foreach (PSVariable v in Find(Name, Scope, Include, Exclude, true))
        {
            if (!ShouldProcess("Name: " + v.Name, "Remove variable")) continue;
            try
            {
                if (Scope != null) SessionState.PSVariable.Remove(Scope + ":" + v.Name);
                else SessionState.PSVariable.Remove(v);
            }
            catch (SessionStateException e)
            {
                WriteError(new ErrorRecord(e.ErrorRecord ?? new ErrorRecord(e, "VariableNotRemovable", ErrorCategory.WriteError, v.Name), e));
            }
        }
    }
}

[Cmdlet(VerbsCommon.Clear, "Variable", SupportsShouldProcess = true)]
public sealed class ClearVariableCommand : VariableCommandBase
{
    [Parameter(Position = 0, Mandatory = true, ValueFromPipelineByPropertyName = true)] public string[] Name { get; set; }
    [Parameter] public string[] Include { get; set; }
    [Parameter] public string[] Exclude { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }
    [Parameter] [ValidateNotNullOrEmpty] public string Scope { get; set; }

    protected override void ProcessRecord()
    {
        foreach (PSVariable v in Find(Name, Scope, Include, Exclude, true))
        {
            if (!ShouldProcess("Name: " + v.Name, "Clear variable")) continue;
            SessionState.PSVariable.Set(Qualify(Scope, v.Name), null);
            if (PassThru) WriteObject(SessionState.PSVariable.Get(Qualify(Scope, v.Name)));
        }
    }
}

[Cmdlet(VerbsCommon.Set, "Alias", SupportsShouldProcess = true)]
public class SetAliasCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)] public string Name { get; set; }
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)] public string Value { get; set; }
    [Parameter(ValueFromPipelineByPropertyName = true)] public string Description { get; set; }
    [Parameter(ValueFromPipelineByPropertyName = true)] public ScopedItemOptions Option { get; set; }
    [Parameter] public SwitchParameter PassThru { get; set; }
    [Parameter(ValueFromPipelineByPropertyName = true)] public string Scope { get; set; }
    [Parameter] public SwitchParameter Force { get; set; }

    protected virtual bool MustNotExist => false;

    protected override void ProcessRecord()
    {
        if (MustNotExist && !Force && SessionState.InvokeProvider.Item.Exists("Alias:\\" + Name))
        {
            WriteError(new ErrorRecord(new SessionStateException($"The alias is not allowed, because an alias with the name '{Name}' already exists."),
                "AliasAlreadyExists", ErrorCategory.ResourceExists, Name));
            return;
        }
        if (!ShouldProcess("Name: " + Name + " Value: " + Value, "Set Alias")) return;
        string scopePrefix = Scope != null ? Scope + ":" : "";
        try
        {
            SessionState.InvokeProvider.Item.Set("Alias:\\" + scopePrefix + Name, Value);
        }
        catch (Exception)
        {
            SessionState.InvokeProvider.Item.New(new[] { "Alias:\\" }, Name, null, Value, true);
        }
        if (Description != null || Option != ScopedItemOptions.None)
        {
            var alias = SessionState.InvokeProvider.Item.Get("Alias:\\" + Name).Select(o => o.BaseObject).OfType<AliasInfo>().FirstOrDefault();
            if (alias != null)
            {
                if (Description != null) alias.Description = Description;
                if (Option != ScopedItemOptions.None) alias.Options = Option;
            }
        }
        if (PassThru) WriteObject(SessionState.InvokeProvider.Item.Get("Alias:\\" + Name), true);
    }
}

[Cmdlet(VerbsCommon.New, "Alias", SupportsShouldProcess = true)]
public sealed class NewAliasCommand : SetAliasCommand
{
    protected override bool MustNotExist => true;
}

[Cmdlet(VerbsCommon.Get, "Alias", DefaultParameterSetName = "Default")]
public sealed class GetAliasCommand : PSCmdlet
{
    [Parameter(ParameterSetName = "Default", Position = 0, ValueFromPipelineByPropertyName = true)] public string[] Name { get; set; } = { "*" };
    [Parameter] public string[] Exclude { get; set; }
    [Parameter] public string Scope { get; set; }
    [Parameter(ParameterSetName = "Definition")] public string[] Definition { get; set; }

    protected override void ProcessRecord()
    {
        var all = SessionState.InvokeProvider.Item.Get("Alias:\\*").Select(o => o.BaseObject).OfType<AliasInfo>().ToList();
        var exclude = Exclude?.Select(e => new WildcardPattern(e, WildcardOptions.IgnoreCase)).ToArray();
        IEnumerable<AliasInfo> matches;
        if (Definition != null)
        {
            var defs = Definition.Select(d => new WildcardPattern(d, WildcardOptions.IgnoreCase)).ToArray();
            matches = all.Where(a => defs.Any(d => d.IsMatch(a.Definition)));
        }
        else
        {
            var names = Name.Select(n => new WildcardPattern(n, WildcardOptions.IgnoreCase)).ToArray();
            matches = all.Where(a => names.Any(n => n.IsMatch(a.Name)));
            foreach (string n in Name.Where(n => !WildcardPattern.ContainsWildcardCharacters(n)))
            {
                if (!all.Any(a => string.Equals(a.Name, n, StringComparison.OrdinalIgnoreCase)))
                {
                    WriteError(new ErrorRecord(new ItemNotFoundException($"Cannot find an alias because alias '{n}' does not exist."),
                        "ItemNotFoundException", ErrorCategory.ObjectNotFound, n));
                }
            }
        }
        foreach (var a in matches.Where(a => exclude == null || !exclude.Any(e => e.IsMatch(a.Name))).OrderBy(a => a.Name, StringComparer.OrdinalIgnoreCase))
            WriteObject(a);
    }
}

[Cmdlet(VerbsCommon.Get, "Random", DefaultParameterSetName = "RandomNumberParameterSet")]
public sealed class GetRandomCommand : PSCmdlet
{
    private static Random _random = new();
    private readonly List<object> _items = new();

    [Parameter] public int? SetSeed { get; set; }
    [Parameter(Position = 0, ParameterSetName = "RandomNumberParameterSet")] public object Maximum { get; set; }
    [Parameter(ParameterSetName = "RandomNumberParameterSet")] public object Minimum { get; set; }
    [Parameter(ValueFromPipeline = true, Position = 0, Mandatory = true, ParameterSetName = "RandomListItemParameterSet")] [AllowNull] public object[] InputObject { get; set; }
    [Parameter(ParameterSetName = "ShuffleParameterSet", Mandatory = true)] public SwitchParameter Shuffle { get; set; }
    [Parameter(ParameterSetName = "RandomNumberParameterSet")] [Parameter(ParameterSetName = "RandomListItemParameterSet")] [ValidateRange(1, int.MaxValue)] public int Count { get; set; } = 1;

    protected override void BeginProcessing()
    {
        if (SetSeed.HasValue) _random = new Random(SetSeed.Value);
        if (ParameterSetName != "RandomNumberParameterSet") return;
        object max = Maximum is PSObject pm ? pm.BaseObject : Maximum;
        object min = Minimum is PSObject pn ? pn.BaseObject : Minimum;
        bool isDouble = max is double or float or decimal || min is double or float or decimal;
        for (int i = 0; i < Count; i++)
        {
            if (isDouble)
            {
                double lo = min == null ? 0 : LanguagePrimitives.ConvertTo<double>(min);
                double hi = max == null ? double.MaxValue : LanguagePrimitives.ConvertTo<double>(max);
                WriteObject(lo + _random.NextDouble() * (hi - lo));
            }
            else
            {
                long lo = min == null ? 0 : LanguagePrimitives.ConvertTo<long>(min);
                long hi = max == null ? int.MaxValue : LanguagePrimitives.ConvertTo<long>(max);
                if (hi <= lo)
                {
                    ThrowTerminatingError(new ErrorRecord(new ArgumentException($"The Minimum value ({lo}) cannot be greater than or equal to the Maximum value ({hi})."),
                        "MinGreaterThanOrEqualMax", ErrorCategory.InvalidArgument, null));
                }
                long v = _random.NextInt64(lo, hi);
                if (v >= int.MinValue && v <= int.MaxValue && max is not long && min is not long) WriteObject((int)v); else WriteObject(v);
            }
        }
    }

    protected override void ProcessRecord()
    {
        if (InputObject != null) _items.AddRange(InputObject);
    }

    protected override void EndProcessing()
    {
        if (ParameterSetName == "RandomNumberParameterSet") return;
        var shuffled = _items.OrderBy(_ => _random.Next()).ToList();
        int n = ParameterSetName == "ShuffleParameterSet" ? shuffled.Count : Math.Min(Count, shuffled.Count);
        foreach (object o in shuffled.Take(n)) WriteObject(o);
    }
}

[Cmdlet(VerbsCommon.New, "Guid", DefaultParameterSetName = "Default")]
public sealed class NewGuidCommand : PSCmdlet
{
    [Parameter(ParameterSetName = "Empty")] public SwitchParameter Empty { get; set; }
    [Parameter(ValueFromPipeline = true, ParameterSetName = "InputObject")] public string InputObject { get; set; }

    protected override void ProcessRecord()
    {
        if (InputObject != null) WriteObject(Guid.Parse(InputObject));
        else WriteObject(Empty ? Guid.Empty : Guid.NewGuid());
    }
}

[Cmdlet(VerbsLifecycle.Invoke, "Expression")]
public sealed class InvokeExpressionCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)] public string Command { get; set; }

    protected override void ProcessRecord()
    {
        ScriptBlock sb = InvokeCommand.NewScriptBlock(Command);
        foreach (PSObject o in InvokeCommand.InvokeScript(false, sb, null)) WriteObject(o);
    }
}

[Cmdlet(VerbsData.ConvertFrom, "StringData")]
public sealed class ConvertFromStringDataCommand : PSCmdlet
{
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true)] [AllowEmptyString] public string StringData { get; set; }
    [Parameter] public char Delimiter { get; set; } = '=';

    protected override void ProcessRecord()
    {
        var result = new Hashtable(StringComparer.OrdinalIgnoreCase);
        foreach (string raw in StringData.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            int i = line.IndexOf(Delimiter);
            if (i <= 0)
            {
                ThrowTerminatingError(new ErrorRecord(new PSInvalidOperationException($"ConvertFrom-StringData : Data line '{line}' is not in 'name=value' format."),
                    "InvalidOperation", ErrorCategory.InvalidOperation, line));
            }
            string key = line.Substring(0, i).Trim();
            string value = Regex.Unescape(line.Substring(i + 1).Trim());
            if (result.ContainsKey(key))
            {
                ThrowTerminatingError(new ErrorRecord(new PSInvalidOperationException($"ConvertFrom-StringData : Data item '{key}' in line '{line}' is already defined."),
                    "InvalidOperation", ErrorCategory.InvalidOperation, line));
            }
            result[key] = value;
        }
        WriteObject(result);
    }
}

[Cmdlet(VerbsData.Import, "PowerShellDataFile", DefaultParameterSetName = "ByPath")]
public sealed class ImportPowerShellDataFileCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "ByPath")] public string[] Path { get; set; }
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "ByLiteralPath")] [Alias("PSPath", "LP")] public string[] LiteralPath { get; set; }
    [Parameter] public SwitchParameter SkipLimitCheck { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var (file, provider, _) in Paths.Resolve(this, Path ?? LiteralPath, LiteralPath != null))
        {
            var ast = Parser.ParseFile(file, out _, out ParseError[] errors);
            if (errors.Length > 0)
            {
                WriteError(new ErrorRecord(new ParseException(errors), "CouldNotParseAsPowerShellDataFile", ErrorCategory.InvalidData, file));
                continue;
            }
            var data = ast.Find(a => a is HashtableAst, false) as HashtableAst;
            if (data == null)
            {
                WriteError(new ErrorRecord(new InvalidOperationException($"Cannot parse {file} as a PowerShell data file: it does not contain a hashtable."),
                    "CouldNotParseAsPowerShellDataFileNoHashtableRoot", ErrorCategory.InvalidData, file));
                continue;
            }
            WriteObject(data.SafeGetValue(SkipLimitCheck));
        }
    }
}

public class MatchInfo
{
    public bool IgnoreCase { get; set; }
    public int LineNumber { get; set; }
    public string Line { get; set; } = string.Empty;
    public string Filename => Path == "InputStream" ? "InputStream" : System.IO.Path.GetFileName(Path);
    public string Path { get; set; } = "InputStream";
    public string Pattern { get; set; }
    public Match[] Matches { get; set; } = Array.Empty<Match>();
    public object Context { get; set; }

    public override string ToString() => Path == "InputStream" ? Line : $"{Path}:{LineNumber}:{Line}";

    public string ToString(string directory)
    {
        if (Path == "InputStream") return Line;
        string shown = directory != null && Path.StartsWith(directory + "/", StringComparison.Ordinal) ? Path.Substring(directory.Length + 1) : Path;
        return $"{shown}:{LineNumber}:{Line}";
    }

    public string RelativePath(string directory) => directory != null && Path.StartsWith(directory + "/", StringComparison.Ordinal) ? Path.Substring(directory.Length + 1) : Path;
}

[Cmdlet(VerbsCommon.Select, "String", DefaultParameterSetName = "File")]
public sealed class SelectStringCommand : PSCmdlet
{
    [Parameter(ValueFromPipeline = true, Mandatory = true, ParameterSetName = "Object")] [AllowNull, AllowEmptyString] public PSObject InputObject { get; set; }
    [Parameter(Mandatory = true, Position = 0)] public string[] Pattern { get; set; }
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true, ParameterSetName = "File")] public string[] Path { get; set; }
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "LiteralFile")] [Alias("PSPath", "LP")] public string[] LiteralPath { get; set; }
    [Parameter] public SwitchParameter SimpleMatch { get; set; }
    [Parameter] public SwitchParameter CaseSensitive { get; set; }
    [Parameter] public SwitchParameter Quiet { get; set; }
    [Parameter] public SwitchParameter List { get; set; }
    [Parameter] public SwitchParameter NoEmphasis { get; set; }
    [Parameter] public SwitchParameter NotMatch { get; set; }
    [Parameter] public SwitchParameter AllMatches { get; set; }
    [Parameter] public SwitchParameter Raw { get; set; }
    [Parameter] public object Encoding { get; set; }
    [Parameter] public int[] Context { get; set; }
    [Parameter] public string[] Include { get; set; }
    [Parameter] public string[] Exclude { get; set; }

    private bool _found;
    private int _lineNumber;

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "Object")
        {
            if (InputObject == null) return;
            _lineNumber++;
            string line = InputObject.BaseObject is string s ? s : InputObject.ToString();
            Check(line, _lineNumber, "InputStream");
            return;
        }
        foreach (var (file, provider, _) in Paths.Resolve(this, Path ?? LiteralPath, LiteralPath != null))
        {
            if (Directory.Exists(file)) continue;
            int n = 0;
            foreach (string line in File.ReadLines(file, EncodingArg.Get(Encoding) ?? new UTF8Encoding(false)))
            {
                if (Check(line, ++n, file) && List) break;
            }
        }
    }

    private bool Check(string line, int number, string path)
    {
        var matches = new List<Match>();
        foreach (string p in Pattern)
        {
            string regex = SimpleMatch ? Regex.Escape(p) : p;
            var options = CaseSensitive ? RegexOptions.None : RegexOptions.IgnoreCase;
            if (AllMatches) matches.AddRange(Regex.Matches(line, regex, options));
            else { Match m = Regex.Match(line, regex, options); if (m.Success) { matches.Add(m); break; } }
        }
        bool hit = matches.Count > 0 != NotMatch;
        if (!hit) return false;
        _found = true;
        if (Quiet) return true;
        if (Raw) { WriteObject(line); return true; }
        WriteObject(new MatchInfo { Line = line, LineNumber = number, Path = path, Pattern = Pattern[0], Matches = matches.ToArray(), IgnoreCase = !CaseSensitive });
        return true;
    }

    protected override void EndProcessing()
    {
        if (Quiet) WriteObject(_found);
    }
}

[Cmdlet(VerbsData.Update, "TypeData", DefaultParameterSetName = "DynamicTypeSet", SupportsShouldProcess = true)]
public sealed class UpdateTypeDataCommand : PSCmdlet
{
    [Parameter(Mandatory = true, ParameterSetName = "DynamicTypeSet", ValueFromPipelineByPropertyName = true)] [ValidateNotNullOrEmpty] public string TypeName { get; set; }
    [Parameter(ParameterSetName = "DynamicTypeSet", ValueFromPipelineByPropertyName = true)] public PSMemberTypes MemberType { get; set; }
    [Parameter(ParameterSetName = "DynamicTypeSet", ValueFromPipelineByPropertyName = true)] public string MemberName { get; set; }
    [Parameter(ParameterSetName = "DynamicTypeSet", ValueFromPipelineByPropertyName = true)] public object Value { get; set; }
    [Parameter(ParameterSetName = "DynamicTypeSet", ValueFromPipelineByPropertyName = true)] public object SecondValue { get; set; }
    [Parameter(ParameterSetName = "DynamicTypeSet", ValueFromPipelineByPropertyName = true)] public string[] DefaultDisplayPropertySet { get; set; }
    [Parameter(ParameterSetName = "DynamicTypeSet", ValueFromPipelineByPropertyName = true)] public string[] DefaultKeyPropertySet { get; set; }
    [Parameter(ParameterSetName = "DynamicTypeSet", ValueFromPipelineByPropertyName = true)] public string DefaultDisplayProperty { get; set; }
    [Parameter(Mandatory = true, ParameterSetName = "TypeDataSet", ValueFromPipeline = true)] public TypeData[] TypeData { get; set; }
    [Parameter(ParameterSetName = "DynamicTypeSet")] [Parameter(ParameterSetName = "TypeDataSet")] public SwitchParameter Force { get; set; }
    [Parameter(Position = 0, ParameterSetName = "FileSet")] public string[] AppendPath { get; set; }
    [Parameter(ParameterSetName = "FileSet")] public string[] PrependPath { get; set; }

    protected override void ProcessRecord()
    {
        var table = SessionTypeTable();
        if (ParameterSetName == "FileSet")
        {
            ThrowTerminatingError(new ErrorRecord(new NotSupportedException("Update-TypeData -AppendPath/-PrependPath is not supported by AmsPwsh; use TypesToProcess in a module manifest."),
                "NotSupported", ErrorCategory.NotImplemented, null));
        }
        var items = TypeData ?? new[] { Build() };
        foreach (var td in items)
        {
            if (!ShouldProcess(td.TypeName, "Update TypeData")) continue;
            if (Force) table.RemoveType(td.TypeName);
            table.AddType(td);
        }
    }

    private TypeData Build()
    {
        var td = new TypeData(TypeName) { IsOverride = Force };
        if (MemberName != null)
        {
            TypeMemberData m = MemberType switch
            {
                PSMemberTypes.NoteProperty => new NotePropertyData(MemberName, Value),
                PSMemberTypes.AliasProperty => new AliasPropertyData(MemberName, Value?.ToString(), SecondValue == null ? null : LanguagePrimitives.ConvertTo<Type>(SecondValue)),
                PSMemberTypes.ScriptProperty => new ScriptPropertyData(MemberName, Value as ScriptBlock, SecondValue as ScriptBlock),
                PSMemberTypes.ScriptMethod => new ScriptMethodData(MemberName, Value as ScriptBlock),
                _ => throw new NotSupportedException($"Update-TypeData -MemberType {MemberType} is not supported by AmsPwsh."),
            };
            td.Members[MemberName] = m;
        }
        if (DefaultDisplayPropertySet != null) td.DefaultDisplayPropertySet = new PropertySetData(DefaultDisplayPropertySet);
        if (DefaultKeyPropertySet != null) td.DefaultKeyPropertySet = new PropertySetData(DefaultKeyPropertySet);
        if (DefaultDisplayProperty != null) td.DefaultDisplayProperty = DefaultDisplayProperty;
        return td;
    }

    internal static System.Management.Automation.Runspaces.TypeTable SessionTypeTable()
    {
        const BindingFlags any = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;
        var rs = System.Management.Automation.Runspaces.Runspace.DefaultRunspace;
        object ctx = rs.GetType().GetProperty("GetExecutionContext", any)?.GetValue(rs);
        return (System.Management.Automation.Runspaces.TypeTable)ctx?.GetType().GetProperty("TypeTable", any)?.GetValue(ctx)
            ?? throw new InvalidOperationException("The session's type table is not reachable.");
    }
}
