# Shared by the scripts: sourced, not run.

# ensure_debian_packages CMD:PACKAGE ... -- install (with apt-get, as root) the packages whose command is missing.
# CMD may be an absolute path pattern, quoted, for programs not on PATH: '/usr/lib/postgresql/*/bin/initdb'.
ensure_debian_packages() {
    local need=() pair cmd
    for pair in "$@"; do
        cmd="${pair%%:*}"
        if [[ $cmd == /* ]]; then
            compgen -G "$cmd" >/dev/null || need+=("${pair#*:}")
        else
            command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] || need+=("${pair#*:}")
        fi
    done
    [ ${#need[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ]; then
        echo "installing ${need[*]} with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "missing: ${need[*]} (install them, e.g. sudo apt-get install ${need[*]})" >&2
        return 1
    fi
}

# npm_ci_once DIR -- `npm ci` in DIR when its lock file is newer than the last install.
npm_ci_once() {
    local stamp="$1/node_modules/.installed"
    if [ ! -f "$stamp" ] || [ "$1/package-lock.json" -nt "$stamp" ]; then
        (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
        touch "$stamp"
    fi
}
