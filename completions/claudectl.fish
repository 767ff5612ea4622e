# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_claudectl_global_optspecs
    string join \n h/help V/version
end

function __fish_claudectl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_claudectl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_claudectl_using_subcommand
    set -l cmd (__fish_claudectl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c claudectl -n "__fish_claudectl_needs_command" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_needs_command" -s V -l version -d 'Print version'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "status" -d 'Show each daemon: socket, service state, pid, uptime, version'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "run" -d 'Run all three daemons in the foreground (no service manager needed); Ctrl-C stops them'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "install" -d 'Install the user units, enable the sockets, and register claude-hook with Claude Code'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "uninstall" -d 'Disable and remove the units and the hook registration (data is kept)'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "logs" -d 'Show the daemons\' logs (the journal, or the files `claudectl run` writes)'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "doctor" -d 'Check everything that can silently break, with a fix for each problem'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "mcp" -d 'Serve Claude Code\'s MCP tools (memory search, mesh messages) on stdin/stdout'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "launch" -d 'Start Claude Code with our channel, so mesh messages reach it while it is idle'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "bench" -d 'Measure the installed daemons on this machine, against baselines from the same run'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "mem" -d 'Search and manage memory (claude-memd)'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "sup" -d 'Ask and manage supervised Claude Code sessions (claude-supervisord)'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "mesh" -d 'Message Claude Code sessions, here or on other machines (claude-meshd)'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c claudectl -n "__fish_claudectl_using_subcommand status" -l json -d 'Print JSON instead of a table'
complete -c claudectl -n "__fish_claudectl_using_subcommand status" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand run" -l bindir -d 'Directory holding the daemon binaries (default: next to claudectl, then PATH)' -r -F
complete -c claudectl -n "__fish_claudectl_using_subcommand run" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand install" -l bindir -d 'Directory holding the installed programs (default: the one holding claudectl)' -r -F
complete -c claudectl -n "__fish_claudectl_using_subcommand install" -l now -d 'Start the sockets now, not only at the next login'
complete -c claudectl -n "__fish_claudectl_using_subcommand install" -l no-hooks -d 'Do not register claude-hook in ~/.claude/settings.json'
complete -c claudectl -n "__fish_claudectl_using_subcommand install" -l no-mcp -d 'Do not register `claudectl mcp` in ~/.claude.json'
complete -c claudectl -n "__fish_claudectl_using_subcommand install" -l launch-alias -d 'Only print a shell alias that starts Claude Code through `claudectl launch` (add it to your shell\'s rc file); install nothing'
complete -c claudectl -n "__fish_claudectl_using_subcommand install" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand uninstall" -l no-hooks -d 'Leave ~/.claude/settings.json alone'
complete -c claudectl -n "__fish_claudectl_using_subcommand uninstall" -l no-mcp -d 'Leave the MCP server registration in ~/.claude.json alone'
complete -c claudectl -n "__fish_claudectl_using_subcommand uninstall" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand logs" -l session -d 'Only lines about this Claude session' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand logs" -s n -l lines -d 'How many lines from the end' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand logs" -s f -l follow -d 'Keep printing new lines'
complete -c claudectl -n "__fish_claudectl_using_subcommand logs" -l files -d 'Read the foreground log files even when the journal is available'
complete -c claudectl -n "__fish_claudectl_using_subcommand logs" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand doctor" -l json -d 'Print JSON instead of text'
complete -c claudectl -n "__fish_claudectl_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mcp" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand launch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c claudectl -n "__fish_claudectl_using_subcommand completions" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand bench" -s n -l iterations -d 'Measured rounds per figure' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand bench" -l bindir -d 'Directory holding claude-memd, claude-meshd and claude-hook (default: next to claudectl, then PATH)' -r -F
complete -c claudectl -n "__fish_claudectl_using_subcommand bench" -l json -d 'Print one JSON object instead of the table'
complete -c claudectl -n "__fish_claudectl_using_subcommand bench" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "search" -d 'Search observations, summaries and prompts by words and meaning (a compact index with IDs)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "timeline" -d 'What happened around an observation ID or a time'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "show" -d 'Observations in full, by ID'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "get" -d 'Observations in full, by ID'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "context" -d 'The context a new session in a project is given'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "prune" -d 'Delete records older than some days, in batches, and return the space to the file system'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "import" -d 'Import an export (`mem export`) or a claude-mem database; idempotent'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "forget" -d 'Forget records for good: by ID, or all of a session, a project, or before a date'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "edit" -d 'Correct an observation: opens $EDITOR on it as TOML (title, facts, narrative, type, ...)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "export" -d 'Write memory as versioned JSON Lines (see claude-daemons(7)), to stdout or a file'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "stats" -d 'Counts per project'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "open" -d 'Open the memory viewer: a one-time login link to the web page on the loopback port'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "model" -d 'The embedding model of semantic recall: install, status, remove'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "share" -d 'Team memory: share a project\'s memory with teammates through NATS JetStream'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and not __fish_seen_subcommand_from search timeline show get context prune import forget edit export stats open model share help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from search" -l project -d 'Project path or name' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from search" -l type -d 'Observation type (change, discovery, bugfix, feature, decision, ...)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from search" -l file -d 'A file path (or part of one) the work read or changed' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from search" -l record -d 'Only one kind of record' -r -f -a "observation\t''
summary\t''
prompt\t''"
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from search" -l since -d 'Created at or after (RFC 3339 or seconds since the epoch)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from search" -l until -d 'Created before (RFC 3339 or seconds since the epoch)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from search" -s n -l limit -d 'Results per page (at most 200)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from search" -l offset -d 'Skip this many results' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from search" -l mode -d 'lexical (the words), semantic (the meaning) or hybrid (both; the default when an embedding model is installed, see `claudectl mem model`)' -r -f -a "lexical\t''
semantic\t''
hybrid\t''"
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from search" -l mine -d 'Only records made here (not teammates\')'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from search" -l team -d 'Only teammates\' records (team memory)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from search" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from search" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from timeline" -l at -d 'Or a time to center on (RFC 3339 or seconds since the epoch)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from timeline" -l project -d 'Project path or name (default: the anchor\'s)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from timeline" -l before -d 'Items before the center' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from timeline" -l after -d 'Items after the center' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from timeline" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from timeline" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from show" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from get" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from context" -l project -d 'A directory inside the project (default: the current directory)' -r -F
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from context" -l tokens -d 'Token budget (default: `[memory] context_tokens`)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from context" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from context" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from prune" -l older-than-days -d 'Delete records older than this many days' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from prune" -l batch -d 'Rows deleted per request (each request is one transaction)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from prune" -l dry-run -d 'Only count what would be deleted'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from prune" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from import" -l project -d 'Put claude-mem project NAME under the repository at DIR (repeatable)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from import" -l batch -d 'Records sent per request, each request one transaction [default: 500 for a claude-mem database, 2000 for an export]' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from import" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from forget" -l session -d 'Every record of this Claude session' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from forget" -l project -d 'Every record of this project (a directory inside it, its path, or its name)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from forget" -l before -d 'Every record created before this time (RFC 3339, a date, or seconds since the epoch)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from forget" -s y -l yes -d 'Do not ask'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from forget" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from forget" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from edit" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from edit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from export" -l project -d 'Only this project (a directory inside it, its path, or its name)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from export" -l since -d 'Only records created at or after this time (RFC 3339, a date, or epoch seconds)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from export" -s o -l output -d 'Write to this file instead of stdout' -r -F
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from stats" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from stats" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from open" -l print-url -d 'Only print the link; do not start a browser'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from open" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from model" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from model" -f -a "install" -d 'Install the embedding model (all-MiniLM-L6-v2) from the Hugging Face hub or a local copy; claude-memd then embeds every record in the background'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from model" -f -a "status" -d 'Whether a model is installed, and how far claude-memd is with embedding records'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from model" -f -a "remove" -d 'Remove the model: search is lexical again'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from model" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from share" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from share" -f -a "enable" -d 'Share a project (default: the current directory\'s) with the team'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from share" -f -a "disable" -d 'Stop sharing a project (what is not yet published stays here)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from share" -f -a "status" -d 'The shared projects (or one), the broker connection and counters'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from share" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from help" -f -a "search" -d 'Search observations, summaries and prompts by words and meaning (a compact index with IDs)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from help" -f -a "timeline" -d 'What happened around an observation ID or a time'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from help" -f -a "show" -d 'Observations in full, by ID'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from help" -f -a "context" -d 'The context a new session in a project is given'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Delete records older than some days, in batches, and return the space to the file system'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from help" -f -a "import" -d 'Import an export (`mem export`) or a claude-mem database; idempotent'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from help" -f -a "forget" -d 'Forget records for good: by ID, or all of a session, a project, or before a date'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from help" -f -a "edit" -d 'Correct an observation: opens $EDITOR on it as TOML (title, facts, narrative, type, ...)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from help" -f -a "export" -d 'Write memory as versioned JSON Lines (see claude-daemons(7)), to stdout or a file'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from help" -f -a "stats" -d 'Counts per project'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from help" -f -a "open" -d 'Open the memory viewer: a one-time login link to the web page on the loopback port'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from help" -f -a "model" -d 'The embedding model of semantic recall: install, status, remove'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from help" -f -a "share" -d 'Team memory: share a project\'s memory with teammates through NATS JetStream'
complete -c claudectl -n "__fish_claudectl_using_subcommand mem; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and not __fish_seen_subcommand_from ask sessions stop events permissions answer fleet attach channel help" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and not __fish_seen_subcommand_from ask sessions stop events permissions answer fleet attach channel help" -f -a "ask" -d 'Send a prompt to a session (started on first use) and print the answer'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and not __fish_seen_subcommand_from ask sessions stop events permissions answer fleet attach channel help" -f -a "sessions" -d 'Every session: state, process, turns, cost'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and not __fish_seen_subcommand_from ask sessions stop events permissions answer fleet attach channel help" -f -a "stop" -d 'Stop a session\'s process (its conversation is kept unless --forget)'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and not __fish_seen_subcommand_from ask sessions stop events permissions answer fleet attach channel help" -f -a "events" -d 'Follow lifecycle events: spawned, ready, exited, restart_scheduled, reaped, ...'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and not __fish_seen_subcommand_from ask sessions stop events permissions answer fleet attach channel help" -f -a "permissions" -d 'A session\'s permission prompts and who decided them (pending ones first to answer)'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and not __fish_seen_subcommand_from ask sessions stop events permissions answer fleet attach channel help" -f -a "answer" -d 'Answer a pending permission prompt: allow or deny'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and not __fish_seen_subcommand_from ask sessions stop events permissions answer fleet attach channel help" -f -a "fleet" -d 'The fleet ([supervisor] broker_url): its hosts, their capacity, and where each session lives'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and not __fish_seen_subcommand_from ask sessions stop events permissions answer fleet attach channel help" -f -a "attach" -d 'Connect this terminal to an interactive session ("kind": "interactive"): watch it and type into it; Ctrl-] detaches and leaves it running'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and not __fish_seen_subcommand_from ask sessions stop events permissions answer fleet attach channel help" -f -a "channel" -d 'The MCP channel server claude-supervisord gives its interactive children (their `--mcp-config` runs it; not for people)'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and not __fish_seen_subcommand_from ask sessions stop events permissions answer fleet attach channel help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from ask" -l cwd -d 'Workspace of a new session (default: the daemon\'s HOME); fixed once created' -r -F
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from ask" -l model -d 'Model' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from ask" -l permission-mode -d 'Permission mode (e.g. acceptEdits, plan)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from ask" -l allowed-tool -d 'Tools allowed without asking (repeat or comma-separate)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from ask" -l timeout -d 'Give up on the turn after this many seconds' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from ask" -l kind -d 'How the session\'s Claude Code runs: headless (`claude -p`) or interactive (its terminal UI under a PTY, which `claudectl sup attach` connects to)' -r -f -a "headless\t'`claude -p`, stream-json'
interactive\t'Claude Code\'s terminal UI under a PTY the supervisor owns'"
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from ask" -l stream -d 'Show the answer as it is written (server-sent events); with --json, one {"event", "data"} object per line as each event arrives. On a terminal the answer is always streamed, and permission prompts are asked inline (`Allow Bash: git push? [y/N/always]`)'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from ask" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from ask" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from sessions" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from sessions" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from stop" -l forget -d 'Also drop the key -> Claude session mapping (the next ask starts a new conversation)'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from stop" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from events" -l since -d 'First replay the remembered events after this sequence number (0: all)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from events" -s n -l count -d 'Exit after this many events' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from events" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from events" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from permissions" -l pending -d 'Only the prompts still waiting for an answer'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from permissions" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from permissions" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from answer" -l message -d 'Why (with deny: Claude reads it)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from answer" -l remember -d 'Also decide the same call alike from now on, without asking'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from answer" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from answer" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from fleet" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from fleet" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from attach" -l read-only -d 'Only watch: keys are not sent, and another person may type'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from attach" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from channel" -l socket -d 'The supervisor\'s socket' -r -F
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from channel" -l key -d 'The session key' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from channel" -l session-id -d 'The Claude session id of the process that runs this server' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from channel" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from help" -f -a "ask" -d 'Send a prompt to a session (started on first use) and print the answer'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from help" -f -a "sessions" -d 'Every session: state, process, turns, cost'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop a session\'s process (its conversation is kept unless --forget)'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from help" -f -a "events" -d 'Follow lifecycle events: spawned, ready, exited, restart_scheduled, reaped, ...'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from help" -f -a "permissions" -d 'A session\'s permission prompts and who decided them (pending ones first to answer)'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from help" -f -a "answer" -d 'Answer a pending permission prompt: allow or deny'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from help" -f -a "fleet" -d 'The fleet ([supervisor] broker_url): its hosts, their capacity, and where each session lives'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from help" -f -a "attach" -d 'Connect this terminal to an interactive session ("kind": "interactive"): watch it and type into it; Ctrl-] detaches and leaves it running'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from help" -f -a "channel" -d 'The MCP channel server claude-supervisord gives its interactive children (their `--mcp-config` runs it; not for people)'
complete -c claudectl -n "__fish_claudectl_using_subcommand sup; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and not __fish_seen_subcommand_from send inbox peers profile outbox accept-host approve deny help" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and not __fish_seen_subcommand_from send inbox peers profile outbox accept-host approve deny help" -f -a "send" -d 'Send a message: to a peer name, key prefix, session, `*`, `@group` or `#topic`'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and not __fish_seen_subcommand_from send inbox peers profile outbox accept-host approve deny help" -f -a "inbox" -d 'Received messages'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and not __fish_seen_subcommand_from send inbox peers profile outbox accept-host approve deny help" -f -a "peers" -d 'Sessions on the mesh (local and remote)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and not __fish_seen_subcommand_from send inbox peers profile outbox accept-host approve deny help" -f -a "profile" -d 'Show a local session\'s profile, or change it'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and not __fish_seen_subcommand_from send inbox peers profile outbox accept-host approve deny help" -f -a "outbox" -d 'The durable outbox: list rows, requeue stuck or dead ones'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and not __fish_seen_subcommand_from send inbox peers profile outbox accept-host approve deny help" -f -a "accept-host" -d 'Accept that the state directory now lives on this host (after a move or restore)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and not __fish_seen_subcommand_from send inbox peers profile outbox accept-host approve deny help" -f -a "approve" -d 'Allow a permission request a launched session relayed to you (`[mesh] approvers`)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and not __fish_seen_subcommand_from send inbox peers profile outbox accept-host approve deny help" -f -a "deny" -d 'Deny a permission request a launched session relayed to you (`[mesh] approvers`)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and not __fish_seen_subcommand_from send inbox peers profile outbox accept-host approve deny help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from send" -l priority -d 'now (interrupts a working session), next or low' -r -f -a "now\t''
next\t''
low\t''"
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from send" -l reply-to -d 'The id of the message this answers' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from send" -l id -d 'The send\'s id, for safe retries (default: a fresh one)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from send" -l meta -d 'JSON carried with the message' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from send" -l from-session -d 'Send as this local session (default: the member itself)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from send" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from send" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from inbox" -l since -d 'Only items after this cursor' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from inbox" -l session -d 'What one local session may read' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from inbox" -l from -d 'Only from this sender (key, name or session)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from inbox" -l topic -d 'Only this topic' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from inbox" -s n -l limit -d 'At most this many items (1-1000)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from inbox" -l unread -d 'Only unread items'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from inbox" -l mark-seen -d 'Mark what is shown as seen'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from inbox" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from inbox" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from peers" -l all -d 'Include offline and invisible peers'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from peers" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from peers" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from profile" -l summary -d 'One line on what the session does' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from profile" -l status -d 'idle, working or dnd' -r -f -a "idle\t''
working\t''
dnd\t''"
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from profile" -l visible -d 'Whether other peers list it' -r -f -a "true\t''
false\t''"
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from profile" -l title -d 'Title' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from profile" -l bio -d 'Longer description' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from profile" -l capability -d 'What it can do (repeat or comma-separate; replaces the list)' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from profile" -l json -d 'Print the daemon\'s JSON answer instead of the compact view'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from profile" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from outbox" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from outbox" -f -a "list" -d 'Outbox rows with state, attempts and last error'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from outbox" -f -a "requeue" -d 'Retire a pending, inflight or dead row and queue a copy under a new id'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from outbox" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from accept-host" -l bindir -d 'Directory holding claude-meshd (default: next to claudectl, then PATH)' -r -F
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from accept-host" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from approve" -l from-session -d 'Answer as this local session (default: the member itself); an approver listed by session name or `@group` must answer as that session' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from approve" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from deny" -l from-session -d 'Answer as this local session (default: the member itself); an approver listed by session name or `@group` must answer as that session' -r
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from deny" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from help" -f -a "send" -d 'Send a message: to a peer name, key prefix, session, `*`, `@group` or `#topic`'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from help" -f -a "inbox" -d 'Received messages'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from help" -f -a "peers" -d 'Sessions on the mesh (local and remote)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from help" -f -a "profile" -d 'Show a local session\'s profile, or change it'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from help" -f -a "outbox" -d 'The durable outbox: list rows, requeue stuck or dead ones'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from help" -f -a "accept-host" -d 'Accept that the state directory now lives on this host (after a move or restore)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from help" -f -a "approve" -d 'Allow a permission request a launched session relayed to you (`[mesh] approvers`)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from help" -f -a "deny" -d 'Deny a permission request a launched session relayed to you (`[mesh] approvers`)'
complete -c claudectl -n "__fish_claudectl_using_subcommand mesh; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp launch completions bench mem sup mesh help" -f -a "status" -d 'Show each daemon: socket, service state, pid, uptime, version'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp launch completions bench mem sup mesh help" -f -a "run" -d 'Run all three daemons in the foreground (no service manager needed); Ctrl-C stops them'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp launch completions bench mem sup mesh help" -f -a "install" -d 'Install the user units, enable the sockets, and register claude-hook with Claude Code'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp launch completions bench mem sup mesh help" -f -a "uninstall" -d 'Disable and remove the units and the hook registration (data is kept)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp launch completions bench mem sup mesh help" -f -a "logs" -d 'Show the daemons\' logs (the journal, or the files `claudectl run` writes)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp launch completions bench mem sup mesh help" -f -a "doctor" -d 'Check everything that can silently break, with a fix for each problem'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp launch completions bench mem sup mesh help" -f -a "mcp" -d 'Serve Claude Code\'s MCP tools (memory search, mesh messages) on stdin/stdout'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp launch completions bench mem sup mesh help" -f -a "launch" -d 'Start Claude Code with our channel, so mesh messages reach it while it is idle'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp launch completions bench mem sup mesh help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp launch completions bench mem sup mesh help" -f -a "bench" -d 'Measure the installed daemons on this machine, against baselines from the same run'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp launch completions bench mem sup mesh help" -f -a "mem" -d 'Search and manage memory (claude-memd)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp launch completions bench mem sup mesh help" -f -a "sup" -d 'Ask and manage supervised Claude Code sessions (claude-supervisord)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp launch completions bench mem sup mesh help" -f -a "mesh" -d 'Message Claude Code sessions, here or on other machines (claude-meshd)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp launch completions bench mem sup mesh help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mem" -f -a "search" -d 'Search observations, summaries and prompts by words and meaning (a compact index with IDs)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mem" -f -a "timeline" -d 'What happened around an observation ID or a time'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mem" -f -a "show" -d 'Observations in full, by ID'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mem" -f -a "context" -d 'The context a new session in a project is given'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mem" -f -a "prune" -d 'Delete records older than some days, in batches, and return the space to the file system'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mem" -f -a "import" -d 'Import an export (`mem export`) or a claude-mem database; idempotent'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mem" -f -a "forget" -d 'Forget records for good: by ID, or all of a session, a project, or before a date'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mem" -f -a "edit" -d 'Correct an observation: opens $EDITOR on it as TOML (title, facts, narrative, type, ...)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mem" -f -a "export" -d 'Write memory as versioned JSON Lines (see claude-daemons(7)), to stdout or a file'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mem" -f -a "stats" -d 'Counts per project'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mem" -f -a "open" -d 'Open the memory viewer: a one-time login link to the web page on the loopback port'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mem" -f -a "model" -d 'The embedding model of semantic recall: install, status, remove'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mem" -f -a "share" -d 'Team memory: share a project\'s memory with teammates through NATS JetStream'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from sup" -f -a "ask" -d 'Send a prompt to a session (started on first use) and print the answer'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from sup" -f -a "sessions" -d 'Every session: state, process, turns, cost'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from sup" -f -a "stop" -d 'Stop a session\'s process (its conversation is kept unless --forget)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from sup" -f -a "events" -d 'Follow lifecycle events: spawned, ready, exited, restart_scheduled, reaped, ...'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from sup" -f -a "permissions" -d 'A session\'s permission prompts and who decided them (pending ones first to answer)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from sup" -f -a "answer" -d 'Answer a pending permission prompt: allow or deny'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from sup" -f -a "fleet" -d 'The fleet ([supervisor] broker_url): its hosts, their capacity, and where each session lives'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from sup" -f -a "attach" -d 'Connect this terminal to an interactive session ("kind": "interactive"): watch it and type into it; Ctrl-] detaches and leaves it running'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from sup" -f -a "channel" -d 'The MCP channel server claude-supervisord gives its interactive children (their `--mcp-config` runs it; not for people)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mesh" -f -a "send" -d 'Send a message: to a peer name, key prefix, session, `*`, `@group` or `#topic`'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mesh" -f -a "inbox" -d 'Received messages'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mesh" -f -a "peers" -d 'Sessions on the mesh (local and remote)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mesh" -f -a "profile" -d 'Show a local session\'s profile, or change it'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mesh" -f -a "outbox" -d 'The durable outbox: list rows, requeue stuck or dead ones'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mesh" -f -a "accept-host" -d 'Accept that the state directory now lives on this host (after a move or restore)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mesh" -f -a "approve" -d 'Allow a permission request a launched session relayed to you (`[mesh] approvers`)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and __fish_seen_subcommand_from mesh" -f -a "deny" -d 'Deny a permission request a launched session relayed to you (`[mesh] approvers`)'
