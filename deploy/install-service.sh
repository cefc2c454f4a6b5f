#!/usr/bin/env bash
# Install edgeclass as a systemd service (make install-service). Root only.
#   --edgeclass PATH   the edgeclass executable the unit starts (make passes this checkout's .venv/bin/edgeclass)
#   --dry-run          print every file it would write and every command it would run; change nothing
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
edgeclass="" dry=0
while [ $# -gt 0 ]; do
    case "$1" in
        --edgeclass) edgeclass="$2"; shift 2 ;;
        --dry-run) dry=1; shift ;;
        *) echo "install-service: unknown argument $1 (use --edgeclass PATH [--dry-run])" >&2; exit 2 ;;
    esac
done
[ -n "$edgeclass" ] || { echo "install-service: give --edgeclass PATH (make install-service does)" >&2; exit 2; }
if [ "$dry" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    echo "install-service: needs root (sudo make install-service); DRY_RUN=1 shows what it would do" >&2; exit 1
fi
[ "$dry" -eq 1 ] || [ -x "$edgeclass" ] || { echo "install-service: $edgeclass is not an executable (run make setup first)" >&2; exit 1; }

unit=/etc/systemd/system/edgeclass.service conf_dir=/etc/edgeclass home=/var/lib/edgeclass
run() { if [ "$dry" -eq 1 ]; then echo "would run: $*"; else "$@"; fi; }
put() {  # put MODE OWNER DEST < content
    if [ "$dry" -eq 1 ]; then echo "would write $3 (mode $1, owner $2):"; sed 's/^/    /'; return; fi
    local tmp; tmp="$(mktemp "$3.XXXXXX")"; cat > "$tmp"; chmod "$1" "$tmp"; chown "$2" "$tmp"; mv -f "$tmp" "$3"
}

if ! id edgeclass >/dev/null 2>&1; then
    run useradd --system --home-dir "$home" --shell /usr/sbin/nologin --user-group edgeclass
fi
if getent group video >/dev/null 2>&1; then run usermod -a -G video edgeclass; fi
run install -d -m 755 -o edgeclass -g edgeclass "$home"
run install -d -m 755 "$conf_dir"
sed -e "s|@EDGECLASS@|$edgeclass|g" -e "s|@DOCS@|$(dirname "$here")/docs|g" "$here/edgeclass.service" | put 644 root:root "$unit"
if [ -e "$conf_dir/run.toml" ]; then
    echo "keeping $conf_dir/run.toml (already there)"
else
    put 640 root:edgeclass "$conf_dir/run.toml" < "$here/run.example.toml"
fi
if [ -d /run/systemd/system ]; then run systemctl daemon-reload; fi
echo "next: edit $conf_dir/run.toml (model, source, serve-token), then: systemctl enable --now edgeclass"
