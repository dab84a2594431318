// The `nlmon` command line: parses verbs with commander and hands each to its module.
// Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
import { Command, CommanderError, Option } from 'commander';
import { runMonitorCommand } from './monitor-command.js';
import { configCheckCommand, filterCheckCommand, hooksRunCommand, runCommand } from './commands.js';
import { compileCondition, FilterError } from './filter.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function buildProgram(run: (job: Promise<number>) => void): Command {
  const program = new Command('nlmon')
    .description('Linux network event monitor: rtnetlink link events in every network namespace, filters and hooks')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('monitor')
    .description('stream link events to stdout, one line each (no daemon needed)')
    .option('--netns <name>', 'watch this network namespace (repeatable; `default` is the one nlmon runs in)', collect)
    .option('--all-netns', 'watch the default namespace and every namespace in the netns directories, as they come and go')
    .option('--netns-dir <dir>', 'directory of namespace files for --netns/--all-netns (repeatable)', collect)
    .option('--json', 'one JSON event object per line')
    .option('--list-existing', 'first report the links present at start as link_added')
    .addOption(new Option('--receive-buffer <bytes>', 'netlink receive buffer to ask for').argParser((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new CommanderError(EXIT_USAGE, 'nlmon.invalidArgument', `--receive-buffer: not a positive integer: ${v}`);
      return n;
    }))
    .option('--filter <expr>', 'print only events matching this condition (SPEC §4)')
    .action((opts) => {
      if (opts.filter !== undefined) {
        try {
          opts.match = compileCondition(opts.filter);
        } catch (e) {
          if (!(e instanceof FilterError)) throw e;
          process.stderr.write(`${e.format('--filter')}\n`);
          run(Promise.resolve(EXIT_USAGE));
          return;
        }
      }
      run(runMonitorCommand(opts));
    });

  const configOption = () => new Option('-c, --config <file>', 'config file (default: the embedded default config)');
  const unsafeOption = () => new Option('--allow-unsafe-scripts', 'run hook scripts even if group/world-writable or owned by another user');

  program
    .command('run')
    .description('run the daemon in the foreground: monitor, hooks, logs on stderr')
    .addOption(configOption())
    .addOption(unsafeOption())
    .action((opts) => run(runCommand(opts)));

  const config = program.command('config').description('configuration');
  config
    .command('check')
    .description('validate a config file; print every error with its line and column')
    .addOption(configOption())
    .addOption(unsafeOption())
    .action((opts) => run(Promise.resolve(configCheckCommand(opts))));

  const filter = program.command('filter').description('the filter language');
  filter
    .command('check')
    .description('compile an expression and print it normalized; with --event, print match or no match (exit 0 / 1)')
    .argument('<expr>', 'the condition')
    .option('--event <json>', 'an event (SPEC §3 fields; missing ones take defaults) to evaluate against')
    .option('--json', 'print JSON')
    .action((expr, opts) => run(Promise.resolve(filterCheckCommand(expr, opts))));

  const hooks = program.command('hooks').description('hooks');
  hooks
    .command('run')
    .description('fire one hook by hand with a given or synthesized event; print exit code, duration and output')
    .argument('<name>', 'hook name')
    .addOption(configOption())
    .addOption(unsafeOption())
    .option('--event <json>', 'the event to pass (SPEC §3 fields)')
    .option('--interface <name>', 'synthesize a link_added event for this interface')
    .option('--namespace <name>', 'namespace of the synthesized event', 'default')
    .option('--json', 'print the result as JSON')
    .action((name, opts) => run(hooksRunCommand(name, opts)));

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
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT_OK;
      return EXIT_USAGE;
    }
    throw err;
  }
  return job ? job : EXIT_OK;
}
