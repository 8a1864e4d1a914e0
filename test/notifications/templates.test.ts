/**
 * Templates: values escaped for where they go, mistakes found when the template is written, and the
 * documented samples valid.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_HTML_TEMPLATE,
  DEFAULT_SUBJECT_TEMPLATE,
  DEFAULT_WEBHOOK_BODY_TEMPLATE,
  TEMPLATE_VARIABLES,
  TemplateError,
  render,
  sampleEvent,
  templateVariables,
  validateTemplate,
  variablesFrom,
} from '../../daemon/notifications/templates.js';
import { HOSTILE, event } from './fixtures.js';

const variables = variablesFrom(event(), { ruleDescription: 'Helpdesk <all PCs>' });

t.test('variables come from the event, the user and the computer kept apart', async (t) => {
  t.match(variables, {
    Target: 'PC-"007"\\</script>',
    Reason: HOSTILE,
    IPAddress: '192.0.2.10',
    AccessType: 'LocalAdminPassword',
    RequestId: 'req-42',
    IsSuccess: 'true',
    Code: 'Success',
    Message: '',
    MatchedRule: 'eeee0001-0000-4000-8000-000000000001',
    MatchedRuleDescription: 'Helpdesk <all PCs>',
    Username: 'alice@contoso.example',
    DisplayName: 'Alice Admin',
    UserObjectId: 'a1a1a1a1-0000-4000-8000-000000000001',
    ComputerName: 'PC-"007"\\</script>',
    ComputerDeviceId: 'dddd0001-0000-4000-8000-000000000001',
    ComputerObjectId: 'oooo0001-0000-4000-8000-000000000001',
    TenantId: '11111111-1111-4111-8111-111111111111',
    EventId: '3001',
    AuditEventId: '',
  });
  t.same(Object.keys(variables).sort(), Object.keys(TEMPLATE_VARIABLES).sort(), 'every documented variable is filled');

  const refused = variablesFrom(
    event({ device: { query: 'PC-404' }, outcome: { success: false, code: 'DeviceNotFound', message: 'No device PC-404' }, reason: undefined }),
    {},
    () => new Date('2026-05-01T10:00:00.000Z'),
  );
  t.match(refused, { Target: 'PC-404', ComputerName: '', IsSuccess: 'false', Code: 'DeviceNotFound', EventId: '4031', Reason: '', DateTimeUtc: '2026-05-01T10:00:00.000Z' });

  const written = variablesFrom({ ...event(), id: 'audit-1', time: '2026-05-01T09:30:00.000Z', eventId: 3001 });
  t.match(written, { AuditEventId: 'audit-1', DateTimeUtc: '2026-05-01T09:30:00.000Z' });
  const apiKey = variablesFrom(event({ actor: { kind: 'apiKey', id: 'key-1', displayName: 'nightly script', role: 'user' } }));
  t.match(apiKey, { Username: 'nightly script', UserObjectId: '', CallerKind: 'apiKey' });
});

t.test('JSON: values inside strings are escaped as JSON string bodies, and stay inert in HTML', async (t) => {
  const template = '{"reason": "{{Reason}}", "who": "{{ Username }} ({{DisplayName}})", "pc": "{{ComputerName}}", "ok": {{IsSuccess}}, "id": {{EventId}}}';
  t.same(validateTemplate(template, 'json'), []);
  const rendered = render(template, variables, 'json');
  const parsed = JSON.parse(rendered);
  t.equal(parsed.reason, HOSTILE, 'the value comes back exactly');
  t.equal(parsed.pc, 'PC-"007"\\</script>');
  t.equal(parsed.who, 'alice@contoso.example (Alice Admin)');
  t.equal(parsed.ok, true);
  t.equal(parsed.id, 3001);
  t.notMatch(rendered, /<\/script>/i, 'no raw </script> in the body');
  t.notMatch(rendered, /[\r\n]/, 'no raw line breaks');
});

t.test('HTML and text escaping', async (t) => {
  const html = render('<td title="{{Reason}}">{{Reason}}</td>', variables, 'html');
  t.notMatch(html, /<script>/);
  t.match(html, '&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#39;done&#39;');
  t.match(html, 'He said &quot;stop&quot;');
  t.equal((html.match(/"/g) ?? []).length, 2, 'only the template\'s own quotes remain');

  const subject = render('Read by {{Username}}: {{Reason}}', variables, 'text');
  t.notMatch(subject, /[\r\n]/, 'no line break can start a mail header');
  t.match(subject, 'C:\\Temp Bcc: evil@example.com');
});

t.test('mistakes are found when the template is written, each named', async (t) => {
  const problems = (template: string, format: 'json' | 'html' | 'text') => validateTemplate(template, format).join('\n');
  t.match(problems('{"a": "{{Nope}}"}', 'json'), /\{\{Nope\}\} is not a known variable/);
  t.match(problems('{"a": "{{computername}}"}', 'json'), /did you mean \{\{ComputerName\}\}/);
  const ambiguous = problems('<p>{{Name}} {{ObjectId}}</p>', 'html');
  t.match(ambiguous, /\{\{Name\}\} is ambiguous in amsd: use \{\{ComputerName\}\}/);
  t.match(ambiguous, /\{\{ObjectId\}\} is ambiguous/);
  t.match(problems('{{#if IsSuccess}}ok{{/if}}', 'html'), /'\{\{#if IsSuccess\}\}ok\{\{\/if\}\}' is not a placeholder/);
  t.match(problems('{"reason": {{Reason}}}', 'json'), /\{\{Reason\}\} must be inside a JSON string/, 'requester text cannot add JSON structure');
  t.match(problems('{"reason": "{{Reason}}",}', 'json'), /does not render to valid JSON/);
  t.match(problems('{"reason": "{{Reason}}"', 'json'), /does not render to valid JSON/);
  t.match(problems('Line one\nBcc: x@example.com', 'text'), /must be one line/);
  t.same(validateTemplate('{"text": "a \\"quoted\\" {{Reason}} inside"}', 'json'), [], 'escaped quotes in the template do not end the string');
  t.same(validateTemplate('<p>{{Reason}}</p>', 'html'), []);
  t.throws(() => render('{{Nope}}', variables, 'text'), TemplateError);
  t.same(templateVariables('{{Code}} {{Reason}} {{Code}}', 'text'), ['Code', 'Reason']);
});

t.test('the built-in defaults and the sample event are valid', async (t) => {
  t.same(validateTemplate(DEFAULT_WEBHOOK_BODY_TEMPLATE, 'json'), []);
  t.same(validateTemplate(DEFAULT_SUBJECT_TEMPLATE, 'text'), []);
  t.same(validateTemplate(DEFAULT_HTML_TEMPLATE, 'html'), []);
  const body = JSON.parse(render(DEFAULT_WEBHOOK_BODY_TEMPLATE, variablesFrom(sampleEvent(new Date('2026-05-01T00:00:00Z'))), 'json'));
  t.match(body, { eventId: 3001, isSuccess: true, code: 'Success', computer: { name: 'TEST-PC-0001' }, reason: /test notification; no secret was read/ });
});

t.test('every template in docs/notification-templates.md is valid', async (t) => {
  const doc = await readFile(fileURLToPath(new URL('../../docs/notification-templates.md', import.meta.url)), 'utf8');
  const blocks = [...doc.matchAll(/```(json|html|text)\n([\s\S]*?)```/g)];
  t.ok(blocks.filter((b) => b[1] === 'json').length >= 4, 'Teams and Slack samples are there');
  for (const [, format, block] of blocks) {
    // A subject is one line: the block's closing line break is not part of it.
    const template = format === 'text' ? block!.replace(/\n$/, '') : block!;
    t.same(validateTemplate(template, format as 'json' | 'html' | 'text'), [], `${format} sample starting ${JSON.stringify(template.slice(0, 40))}`);
  }
});
