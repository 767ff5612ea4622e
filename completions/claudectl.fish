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
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output'
complete -c claudectl -n "__fish_claudectl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c claudectl -n "__fish_claudectl_using_subcommand status" -l json -d 'Print JSON instead of a table'
complete -c claudectl -n "__fish_claudectl_using_subcommand status" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand run" -l bindir -d 'Directory holding the daemon binaries (default: next to claudectl, then PATH)' -r -F
complete -c claudectl -n "__fish_claudectl_using_subcommand run" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand install" -l bindir -d 'Directory holding the installed programs (default: the one holding claudectl)' -r -F
complete -c claudectl -n "__fish_claudectl_using_subcommand install" -l now -d 'Start the sockets now, not only at the next login'
complete -c claudectl -n "__fish_claudectl_using_subcommand install" -l no-hooks -d 'Do not register claude-hook in ~/.claude/settings.json'
complete -c claudectl -n "__fish_claudectl_using_subcommand install" -l no-mcp -d 'Do not register `claudectl mcp` in ~/.claude.json'
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
complete -c claudectl -n "__fish_claudectl_using_subcommand completions" -s h -l help -d 'Print help'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp completions help" -f -a "status" -d 'Show each daemon: socket, service state, pid, uptime, version'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp completions help" -f -a "run" -d 'Run all three daemons in the foreground (no service manager needed); Ctrl-C stops them'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp completions help" -f -a "install" -d 'Install the user units, enable the sockets, and register claude-hook with Claude Code'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp completions help" -f -a "uninstall" -d 'Disable and remove the units and the hook registration (data is kept)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp completions help" -f -a "logs" -d 'Show the daemons\' logs (the journal, or the files `claudectl run` writes)'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp completions help" -f -a "doctor" -d 'Check everything that can silently break, with a fix for each problem'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp completions help" -f -a "mcp" -d 'Serve Claude Code\'s MCP tools (memory search, mesh messages) on stdin/stdout'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp completions help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output'
complete -c claudectl -n "__fish_claudectl_using_subcommand help; and not __fish_seen_subcommand_from status run install uninstall logs doctor mcp completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
