// `nlmon completion bash|zsh|fish` (docs/cli.md): a completion script for the shell, made from
// the command tree itself (so it lists exactly the verbs and options there are), and
// `nlmon completion --names hooks|outputs`, which the scripts call to complete the names of the
// running daemon's hooks and outputs (nothing printed when no daemon answers), passing on the
// `--socket` or `-c` of the command line being completed.
import type { Command } from 'commander';
import { api, socketPath } from './control-client.js';

interface Verb {
  /** `hooks stats`: the words after `nlmon`. */
  path: string;
  options: string[];
  /** What its argument is: a hook name, an output name, a file, or nothing to complete. */
  arg: 'hook' | 'file' | '';
}

const HOOK_ARG = /^(hooks (enable|disable|stats|reset-stats|delete|run|log))$/;

function verbs(c: Command, prefix = ''): Verb[] {
  return c.commands.flatMap((sub) => {
    const path = `${prefix}${prefix ? ' ' : ''}${sub.name()}`;
    const own: Verb = {
      path,
      options: sub.options.flatMap((o) => [o.long, o.short].filter((x): x is string => !!x)),
      arg: HOOK_ARG.test(path) ? 'hook' : path === 'replay' ? 'file' : '',
    };
    return [own, ...verbs(sub, path)];
  });
}

/** The words that may follow `prefix` (a verb path, '' for `nlmon` itself). */
function nextWords(all: Verb[], prefix: string): string[] {
  const depth = prefix ? prefix.split(' ').length : 0;
  return all.filter((v) => v.path.split(' ').length === depth + 1 && (prefix === '' || v.path.startsWith(`${prefix} `))).map((v) => v.path.split(' ').at(-1)!);
}

function bash(program: Command): string {
  const all = verbs(program);
  const key = (p: string) => p.replace(/ /g, '_');
  const cases = ['', ...all.map((v) => v.path)].map((p) => {
    const v = all.find((x) => x.path === p);
    const words = [...nextWords(all, p), ...(v?.options ?? ['--help', '--version'])].join(' ');
    const arg = v?.arg === 'hook' ? ' $(nlmon completion --names hooks "${ctl[@]}" 2>/dev/null)' : '';
    const files = v?.arg === 'file' ? '\n      COMPREPLY+=($(compgen -f -- "$cur"))' : '';
    return `    "${key(p)}")\n      COMPREPLY=($(compgen -W "${words}${arg}" -- "$cur"))${files}\n      ;;`;
  }).join('\n');
  return `# bash completion for nlmon: eval "$(nlmon completion bash)", or save it as
# /usr/share/bash-completion/completions/nlmon
_nlmon() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" verb="" cand w i
  local -a ctl=()
  local known=" ${all.map((v) => key(v.path)).join(' ')} "
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    # The daemon the command line names, for its hooks' names.
    case $w in
      --socket|-c|--config) ctl=("$w" "\${COMP_WORDS[i+1]/#\\~/$HOME}") ;;
      --socket=*|--config=*) ctl=("$w") ;;
    esac
    [[ $w == -* ]] && continue
    cand="\${verb:+\${verb}_}$w"
    [[ $known == *" $cand "* ]] && verb=$cand
  done
  case "$verb" in
${cases}
  esac
}
complete -F _nlmon nlmon
`;
}

function fish(program: Command): string {
  const all = verbs(program);
  const lines = [
    '# fish completion for nlmon: nlmon completion fish > ~/.config/fish/completions/nlmon.fish',
    '# The running daemon\'s names, of the daemon the command line names with --socket or -c.',
    'function __nlmon_names',
    '    set -l words (commandline -opc) \'\'',
    '    set -l ctl',
    '    for i in (seq (count $words))',
    '        switch $words[$i]',
    '            case --socket -c --config',
    '                set ctl $words[$i] (string replace -r \'^~(?=/|$)\' $HOME -- $words[(math $i + 1)])',
    '            case \'--socket=*\' \'--config=*\'',
    '                set ctl $words[$i]',
    '        end',
    '    end',
    '    nlmon completion --names $argv $ctl 2>/dev/null',
    'end',
    'complete -c nlmon -f',
  ];
  // Where the command line is: each word of the verb's path seen, and none of the words that
  // may follow it yet (else `nlmon hooks stats ` would be offered the hooks verbs again).
  const at = (p: string) => {
    const next = nextWords(all, p);
    const seen = p === '' ? ['__fish_use_subcommand'] : p.split(' ').map((w) => `__fish_seen_subcommand_from ${w}`);
    return [...seen, ...(p !== '' && next.length ? [`not __fish_seen_subcommand_from ${next.join(' ')}`] : [])].join('; and ');
  };
  for (const p of ['', ...all.filter((v) => nextWords(all, v.path).length).map((v) => v.path)]) {
    for (const w of nextWords(all, p)) lines.push(`complete -c nlmon -n '${at(p)}' -a ${w}`);
  }
  for (const v of all) {
    for (const o of v.options) if (o.startsWith('--')) lines.push(`complete -c nlmon -n '${at(v.path)}' -l ${o.slice(2)}`);
    if (v.arg === 'hook') lines.push(`complete -c nlmon -n '${at(v.path)}' -a '(__nlmon_names hooks)'`);
    if (v.arg === 'file') lines.push(`complete -c nlmon -n '${at(v.path)}' -F`);
  }
  return lines.join('\n') + '\n';
}

export function completionScript(program: Command, shell: string): string {
  if (shell === 'bash') return bash(program);
  if (shell === 'fish') return fish(program);
  // zsh runs the bash function through its bashcompinit layer.
  return `# zsh completion for nlmon: eval "$(nlmon completion zsh)" in ~/.zshrc
autoload -U +X bashcompinit && bashcompinit
${bash(program)}`;
}

/** The running daemon's hook (or output) names, one per line; nothing when none answers. */
export async function completionNames(kind: string, opts: { socket?: string; config?: string }): Promise<number> {
  try {
    const s = await socketPath(opts);
    const names = kind === 'outputs' ? (await api.outputs(s)).map((o) => o.name) : (await api.hooks(s)).map((h) => h.name);
    // Names are [A-Za-z0-9_.-]: nothing a shell would take for syntax.
    process.stdout.write(names.filter((n) => /^[A-Za-z0-9_.-]+$/.test(n)).map((n) => `${n}\n`).join(''));
  } catch {
    // no daemon: nothing to complete
  }
  return 0;
}
