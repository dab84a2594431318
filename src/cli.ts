// The `nlmon` command line: parses verbs with commander and hands each to its module.
// Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
import { Command, CommanderError, Option } from 'commander';
import { runMonitorCommand } from './monitor-command.js';

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
    .action((opts) => run(runMonitorCommand(opts)));

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
