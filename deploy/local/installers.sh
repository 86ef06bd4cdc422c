# shellcheck shell=bash
# What every script that installs the project's tools shares, sourced by them
# (tests/compat/setup.sh, tests/web/setup.sh, deploy/test/setup.sh):
#
#   run_logged SOURCE LOG CMD...   run CMD bounded in time, its output into LOG; on failure
#                                  show the end of LOG and stop, naming where it downloads from
#   as_root CMD...                 run CMD as root: directly, through password-less sudo, or
#                                  fail (status 1) when neither is possible
#   missing_packages PACKAGE...    those of the Debian packages given that are not installed
#   apt_install PACKAGE...         install Debian packages (no recommendations), or stop and
#                                  say exactly what to install
#   python_venv DIR PACKAGE... [--no-deps PACKAGE...]
#                                  a venv in DIR with the PyPI packages given (the ones after
#                                  --no-deps installed without their dependencies), made again
#                                  only when the list changed
#
# The sourcing script defines `log` and `die` and sets INSTALL_LOG_DIR (where the logs go)
# and INSTALL_TIMEOUT_SECONDS before calling them.

run_logged() {
    local source=$1 logfile=$2 status=0
    shift 2
    timeout "$INSTALL_TIMEOUT_SECONDS" "$@" >"$logfile" 2>&1 || status=$?
    [[ $status -eq 0 ]] && return 0
    tail -n 30 "$logfile" >&2 || true
    if [[ $status -eq 124 ]]; then
        die "'$*' took longer than ${INSTALL_TIMEOUT_SECONDS}s: is $source reachable?"
    fi
    die "'$*' failed with status $status (is $source reachable? log: $logfile)"
}

can_be_root() {
    [[ $(id -u) -eq 0 ]] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

as_root() {
    can_be_root || return 1
    local -a root
    read -ra root < <(root_command)
    "${root[@]}" "$@"
}

# The words that run a command as root: `env` when we are root, else password-less sudo.
# `run_logged` needs them rather than `as_root`: its `timeout` runs programs, and a shell
# function is not one.
root_command() {
    if [[ $(id -u) -eq 0 ]]; then
        echo env
    else
        echo sudo -n env
    fi
}

missing_packages() {
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q '^install ok installed$' ||
            printf '%s\n' "$package"
    done
}

INSTALLERS_APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "missing: $*; install them (this script can only use apt-get)"
    can_be_root || die "missing: $*; install them (apt-get install $*), or run this as root"
    local -a root
    read -ra root < <(root_command)
    if ((!INSTALLERS_APT_UPDATED)); then
        run_logged "Debian's package archive" "$INSTALL_LOG_DIR/apt-update.log" "${root[@]}" apt-get update -q
        INSTALLERS_APT_UPDATED=1
    fi
    log "installing $* with apt-get"
    run_logged "Debian's package archive" "$INSTALL_LOG_DIR/apt.log" "${root[@]}" DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@"
}

python_venv() {
    local dir=$1 wanted
    shift
    local -a packages=() no_deps=()
    while (($#)); do
        if [[ $1 == --no-deps ]]; then
            shift
            no_deps=("$@")
            break
        fi
        packages+=("$1")
        shift
    done
    wanted="${packages[*]}${no_deps[*]:+ ${no_deps[*]}}"
    [[ "$(cat "$dir/.installed" 2>/dev/null)" == "$wanted" ]] && return 0
    command -v python3 >/dev/null || die "python3 is not installed"
    log "installing $wanted from PyPI into $dir"
    rm -rf "$dir"
    python3 -m venv "$dir" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    local logfile
    logfile="$INSTALL_LOG_DIR/$(basename "$dir")-pip.log"
    run_logged PyPI "$logfile" "$dir/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"
    if ((${#no_deps[@]})); then
        run_logged PyPI "$logfile" "$dir/bin/pip" install --quiet --disable-pip-version-check \
            --no-deps "${no_deps[@]}"
    fi
    printf '%s\n' "$wanted" >"$dir/.installed"
}
