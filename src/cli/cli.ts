// The `nlmon` command line: parses verbs with commander and hands each to its module.
// Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { VERSION } from '../package.js';
import type * as Client from './control-client.js';
import type * as Tables from './tables.js';

// Each verb loads only the modules it needs, when it runs: `nlmon status` does not load the
// daemon, the config checkers or the netlink code (docs/cli.md: a probe or a prompt pays for
// what it uses).
const commands = () => import('./commands.js');
let api!: typeof Client.api;
let statusText!: typeof Tables.statusText;
let listTable!: typeof Tables.listTable;
let outputsTable!: typeof Tables.outputsTable;
let statsTable!: typeof Tables.statsTable;
let lastOutput!: typeof Tables.lastOutput;

/** The control client and the tables, loaded once; the daemon verbs' callbacks use them after. */
async function client(): Promise<typeof Client> {
  const [c, t] = await Promise.all([import('./control-client.js'), import('./tables.js')]);
  ({ api } = c);
  ({ statusText, listTable, outputsTable, statsTable, lastOutput } = t);
  return c;
}

async function clientCommand<T>(opts: Client.SocketOptions, call: (socket: string) => Promise<T>, print: (answer: T) => string): Promise<number> {
  return (await client()).clientCommand(opts, call, print);
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** An option's parser for a decimal integer in [min, max]; anything else is a usage error. */
function integerIn(name: string, min: number, max: number): (v: string) => number {
  return (v) => {
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

/** `--events link,addr`: the families of events to print. */
function eventFamilies(v: string): Array<'link' | 'addr'> {
  const out = v.split(',').map((f) => f.trim());
  const bad = out.find((f) => f !== 'link' && f !== 'addr');
  if (bad !== undefined || out.length === 0) throw new InvalidArgumentError(`must be link, addr or link,addr, not '${bad ?? v}'.`);
  return out as Array<'link' | 'addr'>;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function buildProgram(run: (job: Promise<number>) => void): Command {
  const program = new Command('nlmon')
    .description('Linux network event monitor: rtnetlink link events in every network namespace, filters and hooks')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('monitor')
    .description('stream link and address events to stdout, one line each (no daemon needed)')
    .option('--netns <name>', 'watch this network namespace (repeatable; `default` is the one nlmon runs in)', collect)
    .option('--all-netns', 'watch the default namespace and every namespace in the netns directories, as they come and go')
    .option('--netns-dir <dir>', 'directory of namespace files for --netns/--all-netns (repeatable)', collect)
    .option('--json', 'one JSON event object per line')
    .option('--list-existing', 'first report the links and addresses present at start as link_added and addr_added')
    .addOption(new Option('--events <families>', 'the families of events to print: link, addr, or link,addr (the default)').argParser(eventFamilies))
    .addOption(new Option('--receive-buffer <bytes>', 'netlink receive buffer to ask for (4096 to 1073741824)').argParser(integerIn('--receive-buffer', 4096, 2 ** 30)))
    .option('--filter <expr>', 'print only events matching this condition (see docs/filter.md)')
    .addOption(new Option('--intake <mode>', 'a socket in each namespace, one shared socket, or auto (shared without CAP_SYS_ADMIN)').choices(['auto', 'per_namespace', 'shared']))
    .addOption(new Option('--count <n>', 'stop after printing n events (exit 0)').argParser(integerIn('--count', 1, 2 ** 31)))
    .option('-t, --timestamp', 'begin each human line with the time the event was received, as ip -ts monitor')
    .addOption(new Option('--color <when>', 'colour the event names of human lines: auto (a terminal, unless NO_COLOR is set), always, never').choices(['auto', 'always', 'never']).default('auto'))
    .action((opts) => run((async () => {
      if (opts.filter !== undefined && !(await import('./filter-option.js')).compileFilterOption(opts)) return EXIT_USAGE;
      return (await import('./monitor-command.js')).runMonitorCommand(opts);
    })()));

  const configOption = () => new Option('-c, --config <file>', 'config file (default: the embedded default config)');
  const unsafeOption = () => new Option('--allow-unsafe-scripts', 'run hook scripts even if group/world-writable or owned by another user');

  program
    .command('run')
    .description('run the daemon in the foreground: monitor, hooks, control socket, metrics; logs on stderr; SIGHUP reloads')
    .addOption(configOption())
    .addOption(unsafeOption())
    .addOption(new Option('--log-format <format>', 'log lines on stderr as text or json').choices(['text', 'json']).default('text'))
    .action((opts) => run(commands().then((m) => m.runCommand(opts))));

  // Verbs that talk to the running daemon over its control socket.
  const socketOptions = (c: Command) => c
    .option('--socket <path>', 'control socket of the daemon (default /run/nlmon/nlmon.sock)')
    .addOption(new Option('-c, --config <file>', 'find the socket in this config file (control.socket)').conflicts('socket'))
    .option('--json', 'print JSON');

  socketOptions(program.command('status').description('daemon uptime, namespaces watched, events seen, overruns, hooks summary'))
    .action((opts) => run(clientCommand(opts, (s) => api.status(s), (a) => statusText(a))));

  const outputs = program.command('outputs').description('the daemon\'s outputs (streams of events off the daemon)');
  socketOptions(outputs.command('stats').description('per output: state, events matched, delivered, dropped, spooled, lag, last error'))
    .action((opts) => run(clientCommand(opts, (s) => api.outputs(s), (a) => outputsTable(a))));

  const config = program.command('config').description('configuration');
  config
    .command('check')
    .description('validate a config file; print every error with its line and column')
    .addOption(configOption())
    .addOption(unsafeOption())
    .action((opts) => run(commands().then((m) => m.configCheckCommand(opts))));

  program
    .command('doctor')
    .description('what works under the privileges nlmon has now, and what each missing capability would give')
    .addOption(configOption())
    .option('--json', 'print the checks as JSON')
    .action((opts) => run(commands().then((m) => m.doctorCommand(opts))));

  program
    .command('replay')
    .description('print the hook runs recorded events would start (conditions, order_by, debounce applied); --run runs them')
    .argument('<file>', 'NDJSON events (monitor --json, the file output, a NATS consumer); - reads standard input')
    .addOption(configOption())
    .addOption(unsafeOption())
    .option('--run', 'run the hooks for real (the events given at once, not at their recorded pace)')
    .option('--json', 'one JSON object per line')
    .action((file, opts) => run(commands().then((m) => m.replayVerb(file, opts))));

  program
    .command('events')
    .description('read back the events a nats output shipped to its JetStream stream, as monitor prints them')
    .addOption(configOption())
    .addOption(unsafeOption())
    .option('--output <name>', 'the nats output of the config whose stream is read (default: its only one)')
    .option('--since <when>', 'from this long ago (90s, 30m, 1h, 2d) or this time (ISO 8601); default: the whole stream')
    .option('--host <name>', 'only the events of this host')
    .option('--container <name-or-id>', 'only the events naming this container (its name, or 12 or more hex digits of its id)')
    .option('--pod <[namespace/]name>', 'only the events naming this Kubernetes pod')
    .option('--filter <expr>', 'only the events matching this condition (docs/filter.md)')
    .option('-f, --follow', 'then print what arrives, until interrupted')
    .option('--json', 'one JSON event per line')
    .action((opts) => run(commands().then((m) => m.eventsVerb(opts))));

  program
    .command('completion')
    .description('print a completion script for bash, zsh or fish (verbs, options, and the running daemon\'s hook names)')
    .argument('[shell]', 'bash, zsh or fish')
    .addOption(new Option('--names <kind>', 'print the running daemon\'s hook or output names, one per line (what the scripts call)').choices(['hooks', 'outputs']))
    .option('--socket <path>', 'with --names: the daemon\'s control socket')
    .option('-c, --config <file>', 'with --names: read control.socket from this config file')
    .action((shell: string | undefined, opts: { names?: string; socket?: string; config?: string }) => {
      if (!opts.names && (!shell || !['bash', 'zsh', 'fish'].includes(shell))) {
        process.stderr.write('nlmon completion: name a shell: bash, zsh or fish\n');
        return run(Promise.resolve(EXIT_USAGE));
      }
      return run(import('./completion.js').then((m) => {
        if (opts.names) return m.completionNames(opts.names, opts);
        process.stdout.write(m.completionScript(program, shell!));
        return EXIT_OK;
      }));
    });

  const filter = program.command('filter').description('the filter language');
  filter
    .command('check')
    .description('compile an expression and print it normalized; with --event, print match or no match (exit 0 / 1)')
    .argument('<expr>', 'the condition')
    .option('--event <json>', 'an event as JSON (fields of docs/events.md; missing ones take the values of a synthetic link_added)')
    .option('--json', 'print JSON')
    .action((expr, opts) => run(commands().then((m) => m.filterCheckCommand(expr, opts))));

  const hooks = program.command('hooks').description('hooks: run one by hand, or list, inspect and change those of the running daemon');
  socketOptions(hooks.command('list').description('the running daemon\'s hooks'))
    .action((opts) => run(clientCommand(opts, (s) => api.hooks(s), (a) => listTable(a))));
  socketOptions(hooks.command('stats').description('per-hook statistics of the running daemon').argument('[name]', 'one hook'))
    .option('--watch', 'print again every --interval until interrupted')
    .addOption(new Option('--interval <ms>', 'refresh interval for --watch (100 to 3600000)').argParser(integerIn('--interval', 100, 3_600_000)).default(2000))
    .action((name, opts) => run(opts.watch ? client().then((c) => c.watchStats(opts, name, opts.interval)) : clientCommand(opts, (s) => api.stats(s, name), (hooks) => statsTable(hooks) + (name ? lastOutput(hooks) : ''))));
  for (const on of [true, false]) {
    socketOptions(hooks.command(on ? 'enable' : 'disable').description(`${on ? 'enable' : 'disable'} a hook of the running daemon at once (not written to the config file)`).argument('<name>'))
      .action((name, opts) => run(clientCommand(opts, (s) => api.enable(s, name, on), (a) => `hook ${a.hook.name}: ${a.hook.enabled ? 'enabled' : 'disabled'}\n`)));
  }
  hooks
    .command('log')
    .description('the hook log: the last lines of one hook or all, then (-f) what is appended')
    .argument('[name]', 'one hook')
    .option('--socket <path>', 'ask this daemon where its hook log is (default /run/nlmon/nlmon.sock)')
    .addOption(new Option('-c, --config <file>', 'the hook log of this config file (integration.hook_log)').conflicts('socket'))
    .addOption(new Option('-n, --lines <n>', 'how many of the last lines first').argParser(integerIn('--lines', 0, 1_000_000)).default(20))
    .option('-f, --follow', 'then print the lines appended, across a rotation, until interrupted')
    .action((name, opts) => run(import('./hooks-log.js').then((m) => m.hooksLogCommand(name, opts))));
  socketOptions(hooks.command('reset-stats').description('zero the statistics of one hook, or of all').argument('[name]'))
    .action((name, opts) => run(clientCommand(opts, (s) => api.resetStats(s, name), () => `statistics reset${name ? ` for ${name}` : ''}\n`)));
  socketOptions(hooks.command('add').description('add a hook to the running daemon and to its config file (comments kept)'))
    .requiredOption('--name <name>', 'hook name')
    .option('--script <path>', 'program to run (a path, or a command line split like a shell would, never run by one)')
    .option('--url <url>', 'send each matching event to this URL (an HTTP POST of the event JSON)')
    .option('--secret <->', 'with --url: sign each request the Standard Webhooks way with the secret (whsec_…) read from standard input ("-"); written into the config file, which is then made 0600')
    .option('--secret-file <path>', 'with --url: the same with the secret kept in this file (written as secret_file; the file must be readable by its owner only)')
    .option('--module <path>', 'call this JavaScript module\'s handler for each matching event, in a worker thread')
    .option('--condition <expr>', 'filter expression (default: every event)')
    .addOption(new Option('--timeout-ms <n>', 'kill the run after this long (1 to 86400000)').argParser(integerIn('--timeout-ms', 1, 86_400_000)))
    .option('--async', 'run in the background; later events do not wait for it')
    .action((opts) => {
      const actions = ['script', 'url', 'module'].filter((k) => opts[k] !== undefined);
      const signed = opts.secret !== undefined || opts.secretFile !== undefined;
      if (actions.length !== 1 || (signed && opts.url === undefined)) {
        process.stderr.write(`nlmon hooks add: give exactly one of --script, --url and --module${signed && opts.url === undefined ? ' (--secret and --secret-file go with --url)' : ''}\n`);
        run(Promise.resolve(EXIT_USAGE));
        return;
      }
      // A secret in argv is readable by every user in ps: only from stdin or a file.
      if (opts.secret !== undefined && opts.secret !== '-') {
        process.stderr.write('nlmon hooks add: a secret on the command line is readable by every user (ps, /proc/PID/cmdline): give --secret - and the secret on standard input, or --secret-file PATH\n');
        run(Promise.resolve(EXIT_USAGE));
        return;
      }
      if (opts.secret !== undefined && opts.secretFile !== undefined) {
        process.stderr.write('nlmon hooks add: --secret and --secret-file do not go together\n');
        run(Promise.resolve(EXIT_USAGE));
        return;
      }
      const secret = opts.secret === '-' ? fs.readFileSync(0, 'utf8').trim() : undefined;
      const secretFile = opts.secretFile !== undefined ? path.resolve(opts.secretFile as string) : undefined;
      // A relative module path is the caller's, not the daemon's working directory.
      const mod = opts.module !== undefined ? path.resolve(opts.module as string) : undefined;
      run(clientCommand(opts, (s) => api.add(s, {
      name: opts.name, ...(opts.script !== undefined ? { script: opts.script } : {}), ...(opts.url !== undefined ? { url: opts.url } : {}),
      ...(secret !== undefined ? { secret } : {}), ...(secretFile !== undefined ? { secret_file: secretFile } : {}), ...(mod !== undefined ? { module: mod } : {}),
      ...(opts.condition !== undefined ? { condition: opts.condition } : {}),
      ...(opts.timeoutMs !== undefined ? { timeout_ms: opts.timeoutMs } : {}), ...(opts.async ? { async: true } : {}),
    }), (a) => `hook ${a.hook.name}: added\n`));
    });
  socketOptions(hooks.command('delete').description('remove a hook from the running daemon and from its config file').argument('<name>'))
    .action((name, opts) => run(clientCommand(opts, (s) => api.delete(s, name), () => `hook ${name}: deleted\n`)));
  hooks
    .command('run')
    .description('fire one hook by hand with a given or synthesized event; print exit code, duration and output')
    .argument('<name>', 'hook name')
    .addOption(configOption())
    .addOption(unsafeOption())
    .option('--event <json>', 'the event to pass, as JSON (fields of docs/events.md); - reads one line from standard input')
    .option('--interface <name>', 'synthesize a link_added event for this interface')
    .option('--namespace <name>', 'namespace of the synthesized event', 'default')
    .option('--json', 'print the result as JSON')
    .action((name, opts) => run(commands().then((m) => m.hooksRunCommand(name, opts))));

  return program;
}

/** Runs the command line; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  let job: Promise<number> | undefined;
  const program = buildProgram((j) => { job = j; });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version: 0. A verb missing its subcommand (`nlmon hooks`, `nlmon`): the help,
      // and a usage error.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
      if (err.code === 'commander.help') return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE; // `help hooks`: 0
      return EXIT_USAGE;
    }
    throw err;
  }
  return job ? job : EXIT_OK;
}
