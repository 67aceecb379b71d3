# SPDX-License-Identifier: Apache-2.0
# bash completion for givc and its role names (givc-agent, givc-admin, givc-cli).
#
# Options are read from the binary's own --help, so completion always offers
# exactly what the installed givc accepts.

_givc_options() {
        # $1..: the command whose --help lists the options. Only the option lines
        # ("  -h --help  …", "  --vm VM  …"): prose and examples mention others.
        "$@" --help 2>/dev/null | grep -oE -- '^ +(-[a-zA-Z][ ,]+)?--[a-z][a-z0-9-]*' |
                sed -E 's/^ +(-[a-zA-Z][ ,]+)?//' | sort -u
}

_givc_cli() {
        # $1: index of the first word after "givc cli" / "givc-cli"; $2..: how to run the cli
        local first=$1 i verb="" cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
        shift
        local verbs="start stop pause resume query-list query watch set-locale set-timezone
                     poweroff reboot suspend wakeup test health help"

        case $prev in
        --cacert|--cert|--key|--host-key)
                COMPREPLY=($(compgen -f -- "$cur"))
                return ;;
        --addr|--port|--name|--timeout|--vm|--by-type|--by-name|--limit|--retry|--type)
                return ;;
        esac

        for ((i = first; i < COMP_CWORD; i++)); do
                case ${COMP_WORDS[i]} in
                --addr|--port|--name|--cacert|--cert|--key|--host-key|--timeout|--vsock)
                        ((i++)) ;;
                -*) ;;
                *) verb=${COMP_WORDS[i]}; break ;;
                esac
        done

        if [[ -z $verb ]]; then
                if [[ $cur == -* ]]; then
                        COMPREPLY=($(compgen -W "$(_givc_options "$@")" -- "$cur"))
                else
                        COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
                fi
        elif [[ $verb == help && $COMP_CWORD -eq $((i + 1)) ]]; then
                COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
        elif [[ $verb == test && $COMP_CWORD -eq $((i + 1)) ]]; then
                COMPREPLY=($(compgen -W "ensure" -- "$cur"))
        elif [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$(_givc_options "$@" "$verb")" -- "$cur"))
        fi
}

_givc() {
        local cmd=${COMP_WORDS[0]##*/} cur=${COMP_WORDS[COMP_CWORD]}

        case $cmd in
        givc-cli)
                _givc_cli 1 "${COMP_WORDS[0]}"
                return ;;
        givc-agent|givc-admin)
                COMPREPLY=($(compgen -W "$(_givc_options "${COMP_WORDS[0]}")" -- "$cur"))
                return ;;
        esac

        if ((COMP_CWORD == 1)); then
                COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" --list 2>/dev/null) --help --list --version" -- "$cur"))
                return
        fi
        case ${COMP_WORDS[1]} in
        cli)
                _givc_cli 2 "${COMP_WORDS[0]}" cli ;;
        certs)
                if ((COMP_CWORD == 2)); then
                        COMPREPLY=($(compgen -W "ca issue show" -- "$cur"))
                elif [[ $cur == -* ]]; then
                        COMPREPLY=($(compgen -W "$(_givc_options "${COMP_WORDS[0]}" certs "${COMP_WORDS[2]}")" -- "$cur"))
                else
                        COMPREPLY=($(compgen -f -- "$cur"))
                fi ;;
        agent|admin)
                if [[ $cur == -* ]]; then
                        COMPREPLY=($(compgen -W "$(_givc_options "${COMP_WORDS[0]}" "${COMP_WORDS[1]}")" -- "$cur"))
                else
                        COMPREPLY=($(compgen -f -- "$cur"))
                fi ;;
        esac
}

complete -F _givc givc givc-cli givc-agent givc-admin
