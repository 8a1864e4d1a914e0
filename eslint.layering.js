// The import direction of issue 13, as zones for import-x's no-restricted-paths:
//   openapi/ <- common/ <- store/ <- domain areas <- api/ <- http/ <- app.ts <- daemon.ts <- cli.ts/demo.ts
// ("a <- b": b may import a, never the other way). Paths are resolved to real files, so a zone holds
// however the relative path is spelled, and `import type` and `export ... from` count too.

const domainAreas = ['access', 'audit', 'auth', 'directory', 'notifications', 'rotation', 'settings'].map((a) => `daemon/${a}`);
// The process side: only these wire everything together; nothing below them imports them.
const entryFiles = ['app.ts', 'daemon.ts', 'cli.ts', 'demo.ts', 'config.ts', 'listen-check.ts'].map((f) => `daemon/${f}`);
const allDaemonFolders = [...domainAreas, 'daemon/common', 'daemon/store', 'daemon/api', 'daemon/http', 'daemon/simulated-tenant'];
const daemonTopFiles = [...entryFiles, 'daemon/logging.ts'];

/** One zone per forbidden source, so each refusal names the folder it protects. */
function forbid(target, froms, message) {
  return froms.map((from) => ({ target, from, message }));
}

export const layering = [
  ...forbid('openapi', ['daemon', 'psmodule', 'scripts', 'test'], 'openapi/ is the root of the import graph: it imports nothing of the project.'),
  ...forbid('daemon/common', [...allDaemonFolders.filter((f) => f !== 'daemon/common'), ...daemonTopFiles],
    'daemon/common/ is a leaf: node:, npm packages and openapi/ only.'),
  ...forbid('daemon/store', [...allDaemonFolders.filter((f) => f !== 'daemon/common' && f !== 'daemon/store'), ...daemonTopFiles],
    'The store imports no domain area: its persisted records are its own (store/records.ts).'),
  ...domainAreas.flatMap((area) =>
    forbid(area, ['daemon/api', 'daemon/http', 'daemon/simulated-tenant', ...entryFiles],
      'A domain area imports common/, store/ and other domain areas, never api/, http/ or the process side: only http/ knows HTTP.')),
  ...forbid('daemon/api', ['daemon/http', 'daemon/simulated-tenant', ...entryFiles],
    'api/ (the handlers) sits below http/: it imports domain areas, never http/ or the process side.'),
  ...forbid('daemon/http', ['daemon/simulated-tenant', ...entryFiles], 'http/ sits below app.ts: it never imports the process side.'),
  ...forbid('daemon/app.ts', ['daemon/daemon.ts', 'daemon/cli.ts', 'daemon/demo.ts'], 'app.ts builds the app; daemon.ts and cli.ts use it, not the other way.'),
  ...forbid('daemon/daemon.ts', ['daemon/cli.ts', 'daemon/demo.ts'], 'daemon.ts opens the daemon; cli.ts and demo.ts use it, not the other way.'),
  ...forbid('daemon/simulated-tenant', allDaemonFolders.filter((f) => f !== 'daemon/simulated-tenant' && f !== 'daemon/common').concat(daemonTopFiles),
    'The simulated tenant plays Entra and Graph as they document themselves: it imports nothing of the daemon it is tested against.'),
  ...forbid('psmodule/generator', ['daemon'], 'The generator reads the contract (openapi/): it never imports daemon/.'),
  ...forbid('daemon', ['psmodule/generator'], 'Only cli.ts runs the generator.').map((zone) => ({ ...zone, target: allDaemonFolders.concat(daemonTopFiles.filter((f) => f !== 'daemon/cli.ts')) })),
  ...forbid(['daemon', 'openapi', 'psmodule', 'scripts'], ['test'], 'Product code never imports tests.'),
];
