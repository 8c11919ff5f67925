# Python >= 3.14.2 for the newest Home Assistant line (sourced by scripts/setup).
#
# Home Assistant 2026.3 and later need Python >= 3.14.2. Where such a Python is on PATH or in
# pyenv, it is used as it is. Otherwise (Debian 12 has no Python 3.14, its glibc is too old
# for Debian's 3.14 packages, and CPython's sources cannot be fetched here) a minimal Debian
# "forky" root is bootstrapped with debootstrap and Python 3.14 plus the real test servers
# (Mosquitto, GStreamer's RTSP server) are installed inside it; scripts/in-python314 then runs
# commands there with the work tree mounted at the same path.
#
# The root lives outside the work tree (it is per machine, like pyenv's Pythons):
# ${HOMESEC_PY314_ROOT:-$HOME/.cache/homesec_nvr/py314-root}. The file .venvs/python314 records
# what was chosen: either "host <python>" or "root <path>".

PY314_ROOT="${HOMESEC_PY314_ROOT:-${HOME:-/root}/.cache/homesec_nvr/py314-root}"
PY314_CHOICE_FILE="$REPO_ROOT/.venvs/python314"
PY314_SUITE="forky"
# What the newest line's tests and the develop Home Assistant need inside the root: the same
# servers as on the host, a C++ compiler for the few HA dependencies without Python 3.14 wheels
# (assist_pipeline's pymicro-vad, pyspeex-noise), ffmpeg (HA's ffmpeg integration) and
# Chromium (the end-to-end check's browser part runs there, with the develop Home Assistant).
PY314_ROOT_PACKAGES=(
    python3.14 python3.14-venv python3.14-dev gcc g++ ca-certificates ffmpeg
    mosquitto python3-gi gir1.2-gst-rtsp-server-1.0
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
    gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools libturbojpeg0
    chromium curl
)
PY314_STAMP="$PY314_ROOT/.homesec-packages"

is_python_314() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 14, 2) else 1)' >/dev/null 2>&1
}

find_host_python314() {
    local candidate
    for candidate in python3.14 python3; do
        if candidate="$(command -v "$candidate" 2>/dev/null)" && is_python_314 "$candidate"; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    local pyenv_root="${PYENV_ROOT:-${HOME:-/root}/.pyenv}"
    while IFS= read -r candidate; do
        if [[ -x "$candidate" ]] && is_python_314 "$candidate"; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done < <(printf '%s\n' "$pyenv_root"/versions/3.1[4-9]*/bin/python3 | sort -r -V)
    return 1
}

# The Debian mirror the host already uses (deb.debian.org when none is configured).
debian_mirror() {
    local uri
    uri="$(grep -h -E '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
        2>/dev/null | grep -v security | head -n 1 | awk '{print ($1 == "deb") ? $2 : $2}')"
    printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

bootstrap_root() {
    [[ -x "$PY314_ROOT/usr/bin/apt-get" ]] && return 0
    [[ "$(id -u)" -eq 0 ]] || die "Python >= 3.14.2 not found and not root: install python3.14 \
(or run scripts/setup as root to provision it)."
    command -v apt-get >/dev/null 2>&1 || die "Python >= 3.14.2 not found: install python3.14."
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap"
        apt_install debootstrap
    fi
    local script=/usr/share/debootstrap/scripts/sid
    [[ -f "$script" ]] || die "debootstrap has no script for Debian unstable ($script)"
    log "bootstrapping a Debian $PY314_SUITE root for Python 3.14 in $PY314_ROOT (about a minute)"
    rm -rf "$PY314_ROOT.partial"
    mkdir -p "$(dirname "$PY314_ROOT")"
    local boot_log
    boot_log="$(mktemp)"
    if ! debootstrap --variant=minbase "$PY314_SUITE" "$PY314_ROOT.partial" \
        "$(debian_mirror)" "$script" >"$boot_log" 2>&1; then
        tail -n 30 "$boot_log" >&2
        rm -f "$boot_log"
        die "debootstrap failed"
    fi
    rm -f "$boot_log"
    # The mirror's Release file for the testing suite can be past its Valid-Until date.
    cat >"$PY314_ROOT.partial/etc/apt/apt.conf.d/99homesec" <<'EOF'
Acquire::Check-Valid-Until "false";
APT::Install-Recommends "false";
EOF
    mv "$PY314_ROOT.partial" "$PY314_ROOT"
}

# The root trusts what the host trusts (pip inside goes through the same network).
sync_root_certificates() {
    local dest="$PY314_ROOT/usr/local/share/ca-certificates"
    mkdir -p "$dest"
    if ! diff -rq /usr/local/share/ca-certificates "$dest" >/dev/null 2>&1; then
        cp -a /usr/local/share/ca-certificates/. "$dest/" 2>/dev/null || true
        rm -f "$PY314_ROOT/.homesec-certs"
    fi
}

root_packages() {
    local want have=""
    want="$(printf '%s\n' "${PY314_ROOT_PACKAGES[@]}" | sha256sum | cut -d' ' -f1)"
    [[ -f "$PY314_STAMP" ]] && have="$(cat "$PY314_STAMP")"
    if [[ "$want" != "$have" ]]; then
        log "installing Python 3.14 and the test servers inside the root"
        local apt_log
        apt_log="$(mktemp)"
        if ! "$REPO_ROOT/scripts/in-python314" --root "$PY314_ROOT" env DEBIAN_FRONTEND=noninteractive \
            sh -c "apt-get update -qq && apt-get install -y -qq ${PY314_ROOT_PACKAGES[*]}" \
            >"$apt_log" 2>&1; then
            tail -n 30 "$apt_log" >&2
            rm -f "$apt_log"
            die "installing packages inside the Python 3.14 root failed"
        fi
        rm -f "$apt_log"
        rm -f "$PY314_ROOT/.homesec-certs"
        printf '%s\n' "$want" >"$PY314_STAMP"
    fi
    if [[ ! -f "$PY314_ROOT/.homesec-certs" ]]; then
        "$REPO_ROOT/scripts/in-python314" --root "$PY314_ROOT" update-ca-certificates >/dev/null 2>&1 ||
            die "update-ca-certificates failed inside the Python 3.14 root"
        touch "$PY314_ROOT/.homesec-certs"
    fi
}

# Sets PY314 to the interpreter path to create venvs with (as seen by scripts/in-python314).
ensure_python314() {
    mkdir -p "$REPO_ROOT/.venvs"
    local host
    if host="$(find_host_python314)"; then
        PY314="$host"
        printf 'host %s\n' "$host" >"$PY314_CHOICE_FILE"
        return 0
    fi
    bootstrap_root
    sync_root_certificates
    printf 'root %s\n' "$PY314_ROOT" >"$PY314_CHOICE_FILE"
    root_packages
    PY314=/usr/bin/python3.14
}
