using System.Collections;
using System.Globalization;
using System.Management.Automation;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Security;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace Microsoft.PowerShell.Commands;

public enum WebRequestMethod { Default, Get, Head, Post, Put, Delete, Trace, Options, Merge, Patch }

public enum WebAuthenticationType { None, Basic, Bearer, OAuth }

/// <summary>The exception Invoke-RestMethod and Invoke-WebRequest throw for a status that is not a success (as PowerShell 7).</summary>
public sealed class HttpResponseException : HttpRequestException
{
    public HttpResponseException(string message, HttpResponseMessage response) : base(message, null, response.StatusCode)
    {
        Response = response;
    }

    public HttpResponseMessage Response { get; }
}

public class WebRequestSession : IDisposable
{
    public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);
    public CookieContainer Cookies { get; set; } = new();
    public bool UseDefaultCredentials { get; set; }
    public ICredentials Credentials { get; set; }
    public string UserAgent { get; set; } = PSUserAgent.UserAgent;
    public IWebProxy Proxy { get; set; }
    public int MaximumRedirection { get; set; } = -1;
    public int MaximumRetryCount { get; set; }
    public int RetryIntervalInSeconds { get; set; } = 5;
    public void Dispose() { GC.SuppressFinalize(this); }
}

public static class PSUserAgent
{
    public static string UserAgent
    {
        get
        {
            string version = typeof(PSObject).Assembly.GetName().Version?.ToString(3) ?? "7.0.0";
            string os = System.Runtime.InteropServices.RuntimeInformation.OSDescription;
            return string.Format(CultureInfo.InvariantCulture, "Mozilla/5.0 ({0}; {1}; {2}) PowerShell/{3}",
                OperatingSystem.IsWindows() ? "Windows NT" : OperatingSystem.IsMacOS() ? "Macintosh" : "Linux",
                os, CultureInfo.CurrentCulture.Name, version);
        }
    }
}

public class WebResponseObject
{
    internal WebResponseObject(HttpResponseMessage response, byte[] content, Encoding encoding)
    {
        BaseResponse = response;
        RawContentStream = new MemoryStream(content);
        RawContentLength = content.LongLength;
        StatusCode = (int)response.StatusCode;
        StatusDescription = response.ReasonPhrase;
        Headers = WebCmdletHelpers.HeadersDictionary(response);
        Encoding = encoding;
        var raw = new StringBuilder();
        raw.Append("HTTP/").Append(response.Version).Append(' ').Append(StatusCode).Append(' ').Append(StatusDescription).Append("\r\n");
        foreach (var h in Headers) raw.Append(h.Key).Append(": ").Append(string.Join(", ", h.Value)).Append("\r\n");
        raw.Append("\r\n");
        RawContent = raw.ToString();
    }

    public byte[] Content => RawContentStream.ToArray();
    public int StatusCode { get; }
    public string StatusDescription { get; }
    public MemoryStream RawContentStream { get; }
    public long RawContentLength { get; }
    public string RawContent { get; protected set; }
    public Dictionary<string, IEnumerable<string>> Headers { get; }
    public Dictionary<int, string> RelationLink { get; } = new();
    public HttpResponseMessage BaseResponse { get; }
    public Encoding Encoding { get; }
}

public class BasicHtmlWebResponseObject : WebResponseObject
{
    internal BasicHtmlWebResponseObject(HttpResponseMessage response, byte[] content, Encoding encoding) : base(response, content, encoding)
    {
        Content = (encoding ?? Encoding.UTF8).GetString(content);
        RawContent += Content;
    }

    public new string Content { get; }
    public override string ToString() => Content;
}

internal static class WebCmdletHelpers
{
    public static Dictionary<string, IEnumerable<string>> HeadersDictionary(HttpResponseMessage response)
    {
        var headers = new Dictionary<string, IEnumerable<string>>(StringComparer.OrdinalIgnoreCase);
        foreach (var h in response.Headers) headers[h.Key] = h.Value;
        if (response.Content != null)
        {
            foreach (var h in response.Content.Headers) headers[h.Key] = h.Value;
        }
        return headers;
    }

    public static string ContentType(HttpResponseMessage response) => response.Content?.Headers.ContentType?.MediaType;

    public static bool IsJson(string contentType)
    {
        if (string.IsNullOrEmpty(contentType)) return false;
        contentType = contentType.Split(';')[0].Trim();
        return contentType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || contentType.Equals("text/json", StringComparison.OrdinalIgnoreCase)
            || contentType.Equals("application/x-javascript", StringComparison.OrdinalIgnoreCase)
            || contentType.Equals("text/x-javascript", StringComparison.OrdinalIgnoreCase)
            || contentType.Equals("application/javascript", StringComparison.OrdinalIgnoreCase)
            || contentType.Equals("text/javascript", StringComparison.OrdinalIgnoreCase)
            || contentType.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
    }

    public static bool IsXml(string contentType)
    {
        if (string.IsNullOrEmpty(contentType)) return false;
        contentType = contentType.Split(';')[0].Trim();
        return contentType.Equals("application/xml", StringComparison.OrdinalIgnoreCase)
            || contentType.Equals("text/xml", StringComparison.OrdinalIgnoreCase)
            || contentType.Equals("application/xml-external-parsed-entity", StringComparison.OrdinalIgnoreCase)
            || contentType.Equals("application/xml-dtd", StringComparison.OrdinalIgnoreCase)
            || contentType.EndsWith("+xml", StringComparison.OrdinalIgnoreCase);
    }

    public static Encoding EncodingOf(HttpResponseMessage response, Encoding fallback)
    {
        string charset = response.Content?.Headers.ContentType?.CharSet;
        if (!string.IsNullOrEmpty(charset))
        {
            try { return Encoding.GetEncoding(charset.Trim('"')); } catch (ArgumentException) { }
        }
        return fallback;
    }

    /// <summary>PowerShell 7's FormatErrorMessage: indented JSON or XML bodies, HTML tags removed otherwise.</summary>
    public static string FormatErrorMessage(string error, string contentType)
    {
        string formatted = null;
        try
        {
            if (IsXml(contentType))
            {
                var doc = new XmlDocument();
                doc.LoadXml(error);
                var sb = new StringBuilder();
                using (var w = XmlWriter.Create(sb, new XmlWriterSettings { Indent = true, NewLineOnAttributes = true, OmitXmlDeclaration = true }))
                {
                    doc.Save(w);
                }
                formatted = Environment.NewLine + sb;
            }
            else if (IsJson(contentType))
            {
                var node = System.Text.Json.Nodes.JsonNode.Parse(error);
                formatted = Environment.NewLine + node.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
            }
        }
        catch (Exception) { }
        if (string.IsNullOrEmpty(formatted)) formatted = Regex.Replace(error, "<[^>]*>", string.Empty);
        return formatted;
    }
}

/// <summary>What Invoke-RestMethod and Invoke-WebRequest share (PowerShell 7's WebRequestPSCmdlet, in short).</summary>
public abstract class WebRequestPSCmdlet : PSCmdlet, IDisposable
{
    private CancellationTokenSource _cancel;

    [Parameter] public virtual SwitchParameter UseBasicParsing { get; set; }
    [Parameter(Mandatory = true, Position = 0)] [ValidateNotNullOrEmpty] public virtual Uri Uri { get; set; }
    [Parameter] public virtual WebRequestSession WebSession { get; set; }
    [Parameter] [Alias("SV")] public virtual string SessionVariable { get; set; }
    [Parameter] public virtual SwitchParameter AllowUnencryptedAuthentication { get; set; }
    [Parameter] public virtual WebAuthenticationType Authentication { get; set; } = WebAuthenticationType.None;
    [Parameter] [Credential] public virtual PSCredential Credential { get; set; }
    [Parameter] public virtual SwitchParameter UseDefaultCredentials { get; set; }
    [Parameter] [ValidateNotNullOrEmpty] public virtual string CertificateThumbprint { get; set; }
    [Parameter] [ValidateNotNull] public virtual System.Security.Cryptography.X509Certificates.X509Certificate Certificate { get; set; }
    [Parameter] public virtual SwitchParameter SkipCertificateCheck { get; set; }
    [Parameter] public virtual object SslProtocol { get; set; }
    [Parameter] public virtual SecureString Token { get; set; }
    [Parameter] public virtual string UserAgent { get; set; }
    [Parameter] public virtual SwitchParameter DisableKeepAlive { get; set; }
    [Parameter] [ValidateRange(0, int.MaxValue)] public virtual int TimeoutSec { get; set; }
    [Parameter] [ValidateRange(0, int.MaxValue)] public virtual int ConnectionTimeoutSeconds { get; set; }
    [Parameter] [ValidateRange(0, int.MaxValue)] public virtual int OperationTimeoutSeconds { get; set; }
    [Parameter] public virtual IDictionary Headers { get; set; }
    [Parameter] public virtual SwitchParameter SkipHeaderValidation { get; set; }
    [Parameter] public virtual SwitchParameter AllowInsecureRedirect { get; set; }
    [Parameter] [ValidateRange(0, int.MaxValue)] public virtual int MaximumRedirection { get; set; } = -1;
    [Parameter] [ValidateRange(0, int.MaxValue)] public virtual int MaximumRetryCount { get; set; }
    [Parameter] public virtual SwitchParameter PreserveAuthorizationOnRedirect { get; set; }
    [Parameter] [ValidateRange(1, int.MaxValue)] public virtual int RetryIntervalSec { get; set; } = 5;
    [Parameter] public virtual WebRequestMethod Method { get; set; } = WebRequestMethod.Default;
    [Parameter] [Alias("CM")] [ValidateNotNullOrEmpty] public virtual string CustomMethod { get; set; }
    [Parameter] public virtual Version HttpVersion { get; set; }
    [Parameter] public virtual SwitchParameter NoProxy { get; set; }
    [Parameter] public virtual Uri Proxy { get; set; }
    [Parameter] [Credential] public virtual PSCredential ProxyCredential { get; set; }
    [Parameter] public virtual SwitchParameter ProxyUseDefaultCredentials { get; set; }
    [Parameter(ValueFromPipeline = true)] public virtual object Body { get; set; }
    [Parameter] public virtual IDictionary Form { get; set; }
    [Parameter] public virtual string ContentType { get; set; }
    [Parameter] [ValidateSet("chunked", "compress", "deflate", "gzip", "identity", IgnoreCase = true)] public virtual string TransferEncoding { get; set; }
    [Parameter] public virtual string InFile { get; set; }
    [Parameter] public virtual string OutFile { get; set; }
    [Parameter] public virtual SwitchParameter PassThru { get; set; }
    [Parameter] public virtual SwitchParameter Resume { get; set; }
    [Parameter] public virtual SwitchParameter SkipHttpErrorCheck { get; set; }

    internal abstract void ProcessResponse(HttpResponseMessage response, byte[] content);

    protected override void ProcessRecord()
    {
        Validate();
        WebSession ??= new WebRequestSession();
        if (SessionVariable != null) SessionState.PSVariable.Set(SessionVariable.TrimStart('$'), WebSession);
        if (UserAgent != null) WebSession.UserAgent = UserAgent;

        using var handler = new HttpClientHandler
        {
            CookieContainer = WebSession.Cookies,
            UseCookies = true,
            UseDefaultCredentials = UseDefaultCredentials || WebSession.UseDefaultCredentials,
            AllowAutoRedirect = MaximumRedirection != 0,
            AutomaticDecompression = DecompressionMethods.All,
        };
        if (MaximumRedirection > 0) handler.MaxAutomaticRedirections = MaximumRedirection;
        if (SkipCertificateCheck) handler.ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator;
        if (Certificate != null) handler.ClientCertificates.Add(Certificate);
        if (Credential != null && Authentication == WebAuthenticationType.None) handler.Credentials = Credential.GetNetworkCredential();
        else if (WebSession.Credentials != null) handler.Credentials = WebSession.Credentials;
        if (NoProxy) handler.UseProxy = false;
        else if (Proxy != null)
        {
            var proxy = new WebProxy(Proxy) { BypassProxyOnLocal = false };
            if (ProxyCredential != null) proxy.Credentials = ProxyCredential.GetNetworkCredential();
            else if (ProxyUseDefaultCredentials) proxy.UseDefaultCredentials = true;
            handler.Proxy = proxy;
        }
        using var client = new HttpClient(handler)
        {
            Timeout = TimeoutSec > 0 ? TimeSpan.FromSeconds(TimeoutSec) : Timeout.InfiniteTimeSpan,
        };
        _cancel = new CancellationTokenSource();

        int attempts = 0;
        while (true)
        {
            using HttpRequestMessage request = BuildRequest();
            HttpResponseMessage response;
            byte[] content;
            try
            {
                WriteVerbose(string.Format(CultureInfo.CurrentCulture, "HTTP/{0} {1} {2} with {3}-byte payload",
                    request.Version, request.Method, request.RequestUri, request.Content?.Headers.ContentLength ?? 0));
                response = client.Send(request, HttpCompletionOption.ResponseHeadersRead, _cancel.Token);
                using (Stream s = response.Content.ReadAsStream(_cancel.Token))
                using (var ms = new MemoryStream())
                {
                    s.CopyTo(ms);
                    content = ms.ToArray();
                }
                WriteVerbose(string.Format(CultureInfo.CurrentCulture, "received {0}-byte response of content type {1}",
                    content.Length, response.Content.Headers.ContentType?.ToString()));
            }
            catch (TaskCanceledException e) when (!_cancel.IsCancellationRequested)
            {
                ThrowTerminatingError(new ErrorRecord(new TimeoutException($"The operation has timed out.", e), "OperationTimeoutReached", ErrorCategory.OperationTimeout, null));
                return;
            }
            catch (HttpRequestException e)
            {
                var er = new ErrorRecord(e, "WebCmdletWebResponseException", ErrorCategory.InvalidOperation, request);
                if (e.InnerException != null) er.ErrorDetails = new ErrorDetails(e.InnerException.Message);
                ThrowTerminatingError(er);
                return;
            }

            bool success = response.IsSuccessStatusCode || OutFile != null && Resume && (int)response.StatusCode == 416;
            if (!success && MaximumRetryCount > 0 && attempts < MaximumRetryCount && ((int)response.StatusCode == 304 || (int)response.StatusCode >= 400))
            {
                attempts++;
                WriteVerbose(string.Format(CultureInfo.CurrentCulture, "Retrying after interval of {0} seconds. Status code for previous attempt: {1}", RetryIntervalSec, response.StatusCode));
                response.Dispose();
                Thread.Sleep(TimeSpan.FromSeconds(RetryIntervalSec));
                continue;
            }

            if (!success && !SkipHttpErrorCheck)
            {
                string message = string.Format(CultureInfo.CurrentCulture, "Response status code does not indicate success: {0} ({1}).", (int)response.StatusCode, response.ReasonPhrase);
                var ex = new HttpResponseException(message, response);
                var er = new ErrorRecord(ex, "WebCmdletWebResponseException", ErrorCategory.InvalidOperation, request);
                string detail = string.Empty;
                try
                {
                    string body = WebCmdletHelpers.EncodingOf(response, Encoding.UTF8).GetString(content);
                    detail = WebCmdletHelpers.FormatErrorMessage(body, WebCmdletHelpers.ContentType(response));
                }
                catch (Exception e)
                {
                    er.ErrorDetails = new ErrorDetails(e.ToString());
                }
                if (!string.IsNullOrEmpty(detail)) er.ErrorDetails = new ErrorDetails(detail);
                ThrowTerminatingError(er);
            }

            if (OutFile != null)
            {
                string path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(OutFile);
                if (Directory.Exists(path))
                {
                    string name = Path.GetFileName(response.RequestMessage?.RequestUri?.AbsolutePath ?? "");
                    path = Path.Combine(path, string.IsNullOrEmpty(name) ? "index.html" : name);
                }
                File.WriteAllBytes(path, content);
            }
            ProcessResponse(response, content);
            return;
        }
    }

    protected override void StopProcessing() => _cancel?.Cancel();

    public void Dispose()
    {
        _cancel?.Dispose();
        GC.SuppressFinalize(this);
    }

    protected bool ShouldWriteToPipeline => OutFile == null || PassThru;

    private void Validate()
    {
        if (Authentication != WebAuthenticationType.None && Token != null && Credential != null)
            ThrowValidation("The cmdlet cannot run because the following conflicting parameters are specified: Credential and Token. Specify either Credential or Token, then retry.", "WebCmdletAuthenticationTokenConflictException");
        if (Authentication == WebAuthenticationType.Basic && Credential == null)
            ThrowValidation("The cmdlet cannot run because the following parameter is missing: Credential. Provide a valid user credential, such as a user name and password, then retry.", "WebCmdletAuthenticationCredentialNotSuppliedException");
        if ((Authentication == WebAuthenticationType.OAuth || Authentication == WebAuthenticationType.Bearer) && Token == null)
            ThrowValidation("The cmdlet cannot run because the following parameter is missing: Token. Provide a valid token, then retry.", "WebCmdletAuthenticationTokenNotSuppliedException");
        if (!AllowUnencryptedAuthentication && (Authentication != WebAuthenticationType.None || Credential != null || UseDefaultCredentials) && Uri.Scheme != "https")
            ThrowValidation("The cmdlet cannot protect plain text secrets sent over unencrypted connections. To suppress this warning and send plain text secrets over unencrypted networks, reissue the command specifying the AllowUnencryptedAuthentication parameter.", "WebCmdletAllowUnencryptedAuthenticationRequiredException");
        if (Body != null && InFile != null)
            ThrowValidation("The cmdlet cannot run because the following conflicting parameters are specified: Body and InFile. Specify either Body or Infile, then retry.", "WebCmdletBodyConflictException");
        if (Body != null && Form != null)
            ThrowValidation("The cmdlet cannot run because the following conflicting parameters are specified: Body and Form. Specify either Body or Form, then retry.", "WebCmdletBodyFormConflictException");
        if (PassThru && OutFile == null)
            ThrowValidation("The cmdlet cannot run because the following parameter is missing: OutFile. Provide a valid OutFile parameter value when using the PassThru parameter, then retry.", "WebCmdletOutFileMissingException");
        if (!Uri.IsAbsoluteUri) Uri = new Uri("http://" + Uri.OriginalString);
    }

    private void ThrowValidation(string message, string id)
        => ThrowTerminatingError(new ErrorRecord(new ValidationMetadataException(message), id, ErrorCategory.InvalidArgument, this));

    private HttpRequestMessage BuildRequest()
    {
        HttpMethod method = CustomMethod != null ? new HttpMethod(CustomMethod.ToUpperInvariant()) : Method switch
        {
            WebRequestMethod.Default or WebRequestMethod.Get => HttpMethod.Get,
            WebRequestMethod.Head => HttpMethod.Head,
            WebRequestMethod.Post => HttpMethod.Post,
            WebRequestMethod.Put => HttpMethod.Put,
            WebRequestMethod.Delete => HttpMethod.Delete,
            WebRequestMethod.Trace => HttpMethod.Trace,
            WebRequestMethod.Options => HttpMethod.Options,
            WebRequestMethod.Patch => HttpMethod.Patch,
            _ => new HttpMethod(Method.ToString().ToUpperInvariant()),
        };
        object body = Body is PSObject pb ? pb.BaseObject : Body;
        Uri uri = Uri;
        if (method == HttpMethod.Get && body is IDictionary query)
        {
            var b = new UriBuilder(uri);
            string extra = FormatDictionary(query);
            b.Query = string.IsNullOrEmpty(b.Query) ? extra : b.Query.TrimStart('?') + "&" + extra;
            uri = b.Uri;
            body = null;
        }
        var request = new HttpRequestMessage(method, uri);
        if (HttpVersion != null) request.Version = HttpVersion;
        if (DisableKeepAlive) request.Headers.ConnectionClose = true;
        request.Headers.TryAddWithoutValidation("User-Agent", WebSession.UserAgent);

        string contentType = ContentType;
        var contentHeaders = new List<(string, string)>();
        foreach (var kv in WebSession.Headers) AddHeader(request, contentHeaders, kv.Key, kv.Value, ref contentType);
        if (Headers != null)
        {
            foreach (DictionaryEntry e in Headers)
            {
                object v = e.Value is PSObject pv ? pv.BaseObject : e.Value;
                string value = v is IEnumerable en && v is not string ? string.Join(",", en.Cast<object>()) : LanguagePrimitives.ConvertTo<string>(v);
                AddHeader(request, contentHeaders, e.Key.ToString(), value, ref contentType);
            }
        }
        if (Authentication == WebAuthenticationType.Basic)
        {
            var nc = Credential.GetNetworkCredential();
            string token = System.Convert.ToBase64String(Encoding.UTF8.GetBytes(nc.UserName + ":" + nc.Password));
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", token);
        }
        else if (Authentication is WebAuthenticationType.Bearer or WebAuthenticationType.OAuth)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", new NetworkCredential(string.Empty, Token).Password);
        }

        HttpContent content = null;
        if (Form != null)
        {
            var multipart = new MultipartFormDataContent();
            foreach (DictionaryEntry e in Form)
            {
                object v = e.Value is PSObject pv ? pv.BaseObject : e.Value;
                if (v is FileInfo fi)
                {
                    var sc = new StreamContent(File.OpenRead(fi.FullName));
                    sc.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                    multipart.Add(sc, e.Key.ToString(), fi.Name);
                }
                else multipart.Add(new StringContent(LanguagePrimitives.ConvertTo<string>(v)), e.Key.ToString());
            }
            content = multipart;
        }
        else if (InFile != null)
        {
            string path = SessionState.Path.GetResolvedProviderPathFromPSPath(InFile, out _).FirstOrDefault();
            content = new ByteArrayContent(File.ReadAllBytes(path));
        }
        else if (body != null)
        {
            if (body is byte[] bytes) content = new ByteArrayContent(bytes);
            else if (body is IDictionary dict && method != HttpMethod.Get)
            {
                content = new StringContent(FormatDictionary(dict), Encoding.UTF8);
                contentType ??= "application/x-www-form-urlencoded";
            }
            else if (body is XmlNode node) content = new StringContent(node.OuterXml, EncodingFor(contentType));
            else
            {
                string text = LanguagePrimitives.ConvertTo<string>(body);
                content = new StringContent(text, EncodingFor(contentType));
            }
        }
        if (content != null)
        {
            content.Headers.ContentType = null;
            if (contentType != null)
            {
                if (SkipHeaderValidation) content.Headers.TryAddWithoutValidation("Content-Type", contentType);
                else content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
            }
            foreach (var (k, v) in contentHeaders) content.Headers.TryAddWithoutValidation(k, v);
            request.Content = content;
        }
        if (TransferEncoding != null) request.Headers.TransferEncodingChunked = TransferEncoding == "chunked";
        return request;
    }

    private static Encoding EncodingFor(string contentType)
    {
        if (contentType != null && MediaTypeHeaderValue.TryParse(contentType, out var mt) && !string.IsNullOrEmpty(mt.CharSet))
        {
            try { return Encoding.GetEncoding(mt.CharSet.Trim('"')); } catch (ArgumentException) { }
        }
        return new UTF8Encoding(false);
    }

    private void AddHeader(HttpRequestMessage request, List<(string, string)> contentHeaders, string name, string value, ref string contentType)
    {
        if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)) { contentType ??= value; return; }
        if (name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase)) { contentHeaders.Add((name, value)); return; }
        if (name.Equals("User-Agent", StringComparison.OrdinalIgnoreCase)) request.Headers.Remove("User-Agent");
        if (SkipHeaderValidation) request.Headers.TryAddWithoutValidation(name, value);
        else request.Headers.Add(name, value);
    }

    private static string FormatDictionary(IDictionary d)
    {
        var sb = new StringBuilder();
        foreach (DictionaryEntry e in d)
        {
            if (sb.Length > 0) sb.Append('&');
            object v = e.Value is PSObject pv ? pv.BaseObject : e.Value;
            sb.Append(WebUtility.UrlEncode(e.Key.ToString())).Append('=').Append(WebUtility.UrlEncode(LanguagePrimitives.ConvertTo<string>(v) ?? ""));
        }
        return sb.ToString();
    }
}

[Cmdlet(VerbsLifecycle.Invoke, "RestMethod", DefaultParameterSetName = "StandardMethod")]
public sealed class InvokeRestMethodCommand : WebRequestPSCmdlet
{
    [Parameter] [Alias("FL")] public SwitchParameter FollowRelLink { get; set; }
    [Parameter] [Alias("ML")] [ValidateRange(1, int.MaxValue)] public int MaximumFollowRelLink { get; set; } = int.MaxValue;
    [Parameter] [Alias("RHV")] public string ResponseHeadersVariable { get; set; }
    [Parameter] public string StatusCodeVariable { get; set; }

    internal override void ProcessResponse(HttpResponseMessage response, byte[] content)
    {
        if (ShouldWriteToPipeline)
        {
            string contentType = WebCmdletHelpers.ContentType(response);
            bool json = WebCmdletHelpers.IsJson(contentType);
            bool xml = WebCmdletHelpers.IsXml(contentType);
            Encoding encoding = WebCmdletHelpers.EncodingOf(response, null) ?? new UTF8Encoding(false);
            string str = encoding.GetString(content);
            if (str.Length > 0 && str[0] == '\uFEFF') str = str.Substring(1);
            WriteVerbose(string.Format(CultureInfo.InvariantCulture, "Content encoding: {0}", encoding.WebName));

            if (!TryProcessFeed(str))
            {
                object obj;
                bool ok = json
                    ? TryJson(str, out obj) || TryXml(str, out obj)
                    : TryXml(str, out obj) || TryJson(str, out obj);
                if (!ok) obj = str;
                WriteObject(obj);
            }
        }
        if (!string.IsNullOrEmpty(StatusCodeVariable)) SessionState.PSVariable.Set(StatusCodeVariable, (int)response.StatusCode);
        if (!string.IsNullOrEmpty(ResponseHeadersVariable)) SessionState.PSVariable.Set(ResponseHeadersVariable, WebCmdletHelpers.HeadersDictionary(response));
    }

    private bool TryProcessFeed(string str)
    {
        if (str.IndexOf("<rss", StringComparison.OrdinalIgnoreCase) < 0 && str.IndexOf("<feed", StringComparison.OrdinalIgnoreCase) < 0) return false;
        try
        {
            var doc = new XmlDocument();
            doc.LoadXml(str);
            var root = doc.DocumentElement;
            if (root == null || !(root.Name.Equals("rss", StringComparison.OrdinalIgnoreCase) || root.Name.Equals("feed", StringComparison.OrdinalIgnoreCase))) return false;
            foreach (XmlNode n in root.SelectNodes("//*[local-name()='item' or local-name()='entry']")) WriteObject(n);
            return true;
        }
        catch (XmlException) { return false; }
    }

    private static bool TryXml(string s, out object doc)
    {
        try
        {
            var settings = new XmlReaderSettings { CheckCharacters = false, IgnoreProcessingInstructions = true, MaxCharactersFromEntities = 1024, DtdProcessing = DtdProcessing.Ignore, XmlResolver = null };
            using var reader = XmlReader.Create(new StringReader(s), settings);
            var d = new XmlDocument { PreserveWhitespace = true };
            d.Load(reader);
            doc = d;
            return true;
        }
        catch (XmlException) { doc = null; return false; }
    }

    private static bool TryJson(string s, out object obj)
    {
        try
        {
            obj = JsonObject.ConvertFromJson(s, false, 1024, JsonDateKind.Default, out ErrorRecord error);
            if (obj == null) JToken.Parse(s);
            if (error != null) { obj = null; return false; }
            return true;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or JsonException)
        {
            obj = null;
            return false;
        }
    }
}

[Cmdlet(VerbsLifecycle.Invoke, "WebRequest", DefaultParameterSetName = "StandardMethod")]
public sealed class InvokeWebRequestCommand : WebRequestPSCmdlet
{
    internal override void ProcessResponse(HttpResponseMessage response, byte[] content)
    {
        if (!ShouldWriteToPipeline) return;
        Encoding encoding = WebCmdletHelpers.EncodingOf(response, null);
        string contentType = WebCmdletHelpers.ContentType(response);
        bool text = contentType == null || contentType.StartsWith("text/", StringComparison.OrdinalIgnoreCase)
            || WebCmdletHelpers.IsJson(contentType) || WebCmdletHelpers.IsXml(contentType)
            || contentType.Contains("javascript", StringComparison.OrdinalIgnoreCase);
        WriteObject(text ? new BasicHtmlWebResponseObject(response, content, encoding ?? new UTF8Encoding(false)) : new WebResponseObject(response, content, encoding));
    }
}
