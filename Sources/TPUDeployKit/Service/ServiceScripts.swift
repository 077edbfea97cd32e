/// The shell scripts that install, stop and report the engine service on a board, each one round trip, run as
/// root. Where systemd runs, the engine is a unit (`Payloads/service/tpu-llm-engine.service`); elsewhere it
/// runs under `tpu-llm-supervise` (restart on crash, pid and log files), started at boot from /etc/rc.local.
///
/// Output lines the caller parses: `@@manager systemd|supervisor`, `@@state running|stopped|failed`,
/// `@@pid N`, `@@restarts N`, `@@error:REASON`.
public enum ServiceScripts {
    /// Installs (or re-installs with a new command line) and starts the service.
    public static func install(_ spec: EngineLaunchSpec, supervisorScript: String, unitTemplate: String) -> String {
        let q = shellQuoted
        let exec = spec.commandLine.map(systemdQuoted).joined(separator: " ")
        let unit = unitTemplate
            .replacingOccurrences(of: "@NAME@", with: spec.name)
            .replacingOccurrences(of: "@DIR@", with: spec.directory)
            .replacingOccurrences(of: "@USER@", with: spec.user)
            .replacingOccurrences(of: "@EXEC@", with: exec)
        return """
            set -u
            exec </dev/null
            dir=\(q(spec.directory)); name=\(q(spec.name)); service=\(q(spec.serviceName)); user=\(q(spec.user))
            fail() { echo "@@error:$*"; exit 1; }
            [ -x \(q(spec.commandLine[0])) ] || fail "the engine \(spec.commandLine[0]) is not on the board or not executable; run tpudeploy push first"
            mkdir -p "$dir/service" "$dir/log" "$dir/run" || fail "cannot create $dir/service (is /data full?)"
            \(heredoc(path: "$dir/service/engine.args", text: spec.commandLine.joined(separator: "\n") + "\n"))
            \(heredoc(path: "$dir/service/tpu-llm-supervise", text: supervisorScript))
            chmod 0755 "$dir/service/tpu-llm-supervise"
            chown -R "$user" "$dir/log" "$dir/run" 2>/dev/null || true
            if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
              unit="/etc/systemd/system/$service.service"
              \(heredoc(path: "$unit.tmp", text: unit))
              mv -f "$unit.tmp" "$unit" || fail "cannot write $unit"
              systemctl daemon-reload && systemctl enable "$service.service" >/dev/null 2>&1 && systemctl restart "$service.service" \\
                || fail "systemctl could not start $service: $(systemctl status "$service.service" 2>&1 | tail -n 3 | tr '\\n' ' ')"
              echo "@@manager systemd"
            else
              "$dir/service/tpu-llm-supervise" stop "$dir" >/dev/null
              \(rcLocalEnsure(spec))
              "$dir/service/tpu-llm-supervise" start "$dir" >/dev/null || fail "the supervisor did not start"
              echo "@@manager supervisor"
            fi
            """
    }

    /// Stops the engine and keeps it from starting at boot.
    public static func stop(_ spec: EngineLaunchSpec) -> String {
        let q = shellQuoted
        return """
            set -u
            exec </dev/null
            dir=\(q(spec.directory)); service=\(q(spec.serviceName))
            if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && [ -f "/etc/systemd/system/$service.service" ]; then
              systemctl disable --now "$service.service" >/dev/null 2>&1
              echo "@@manager systemd"
            else
              [ -x "$dir/service/tpu-llm-supervise" ] && "$dir/service/tpu-llm-supervise" stop "$dir" >/dev/null
              \(rcLocalRemove(spec))
              echo "@@manager supervisor"
            fi
            echo "@@state stopped"
            """
    }

    /// Reports the service's manager, state, engine pid and restart count.
    public static func status(_ spec: EngineLaunchSpec) -> String {
        let q = shellQuoted
        return """
            set -u
            exec </dev/null
            dir=\(q(spec.directory)); service=\(q(spec.serviceName))
            if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && [ -f "/etc/systemd/system/$service.service" ]; then
              echo "@@manager systemd"
              state=$(systemctl show -p ActiveState --value "$service.service")
              case "$state" in active) echo "@@state running" ;; failed) echo "@@state failed" ;; *) echo "@@state stopped" ;; esac
              echo "@@pid $(systemctl show -p MainPID --value "$service.service")"
              echo "@@restarts $(systemctl show -p NRestarts --value "$service.service" 2>/dev/null || echo 0)"
            elif [ -x "$dir/service/tpu-llm-supervise" ]; then
              echo "@@manager supervisor"
              set -- $("$dir/service/tpu-llm-supervise" status "$dir")
              if [ "${1:-}" = running ]; then
                echo "@@state running"; echo "@@pid ${3:--}"; echo "@@restarts ${4:-0}"
              else
                echo "@@state stopped"
              fi
            else
              echo "@@state not-installed"
            fi
            """
    }

    /// The last `lines` lines of the engine's log.
    public static func logs(_ spec: EngineLaunchSpec, lines: Int) -> String {
        "tail -n \(max(1, lines)) \(shellQuoted(spec.logFile)) 2>/dev/null || echo \"@@error:no log at \(spec.logFile): the engine was never launched there\""
    }

    /// rc.local keeps one line per deployment, tagged so it can be found and removed again.
    private static func rcLocalEnsure(_ spec: EngineLaunchSpec) -> String {
        let line = "\(shellQuoted(spec.supervisor)) start \(shellQuoted(spec.directory)) >/dev/null 2>&1 || true # tpudeploy:\(spec.name)"
        return """
            rc=/etc/rc.local
            [ -f "$rc" ] || printf '#!/bin/sh -e\\nexit 0\\n' > "$rc"
            if ! grep -qF \(shellQuoted("# tpudeploy:\(spec.name)")) "$rc"; then
                awk -v line=\(shellQuoted(line)) 'BEGIN{done=0} /^exit 0/ && !done {print line; done=1} {print} END{if(!done) print line}' "$rc" > "$rc.tmp" \\
                  && cat "$rc.tmp" > "$rc" && rm -f "$rc.tmp" || fail "cannot add the engine to $rc"
              fi
              chmod 0755 "$rc"
            """
    }

    private static func rcLocalRemove(_ spec: EngineLaunchSpec) -> String {
        """
        rc=/etc/rc.local
        if [ -f "$rc" ] && grep -qF \(shellQuoted("# tpudeploy:\(spec.name)")) "$rc"; then
                grep -vF \(shellQuoted("# tpudeploy:\(spec.name)")) "$rc" > "$rc.tmp" && cat "$rc.tmp" > "$rc"; rm -f "$rc.tmp"
              fi
        """
    }

    /// A file written from a quoted here-document (nothing in `text` is expanded).
    private static func heredoc(path: String, text: String) -> String {
        var marker = "TPUDEPLOY_EOF"
        while text.contains(marker) { marker += "_" }
        let body = text.hasSuffix("\n") ? text : text + "\n"
        return "cat > \(path) <<'\(marker)' || fail \"cannot write \(path)\"\n\(body)\(marker)"
    }

    /// An argument as systemd's ExecStart= reads it: double-quoted, with `\`, `"`, `$` and `%` escaped.
    static func systemdQuoted(_ argument: String) -> String {
        var quoted = "\""
        for character in argument {
            switch character {
            case "\\": quoted += "\\\\"
            case "\"": quoted += "\\\""
            case "$": quoted += "$$"
            case "%": quoted += "%%"
            default: quoted.append(character)
            }
        }
        return quoted + "\""
    }
}
