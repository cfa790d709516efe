# bash completion for secretexec; install as
# /usr/share/bash-completion/completions/secretexec
_secretexec() {
    local cur prev i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    # After `--` the words belong to the command: complete it as a command.
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == -- ]]; then
            _command_offset $((i + 1))
            return
        fi
    done
    case $prev in
        -s|--source)
            COMPREPLY=($(compgen -f -P file: -- "${cur#file:}"))
            return ;;
        --export)
            COMPREPLY=($(compgen -W "dotenv shell json" -- "$cur"))
            return ;;
        --allow-var|--keep)
            COMPREPLY=($(compgen -v -- "$cur"))
            return ;;
        --files)
            COMPREPLY=($(compgen -d -- "$cur"))
            return ;;
        --on-change)
            COMPREPLY=($(compgen -W "restart exit signal:HUP" -- "$cur"))
            return ;;
        --cache-token-file)
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --cache|--role|--region|--timeout|--files-group|--watch|--stop-signal|--stop-timeout)
            return ;;
    esac
    COMPREPLY=($(compgen -W "--source --role --region --allow-override --allow-var
        --pristine --keep --dry-run --export --init --batch --cache --cache-token-file --from-env --files --files-group --files-on-disk --watch --on-change --stop-signal --stop-timeout --timeout --verbose
        --help --version -s -v -h -V --" -- "$cur"))
}
complete -F _secretexec secretexec
