/// The board scripts that install, stop and report the engine service (`Resources/board-scripts/service-*.sh`),
/// each one round trip, run as root, with every value an argument. Where systemd runs, the engine is a unit
/// (`Payloads/service/tpu-llm-engine.service`); elsewhere it runs under `tpu-llm-supervise` (restart on crash),
/// installed root-owned in /usr/local/sbin and started at boot from /etc/rc.local.
///
/// Output lines the caller parses: `@@manager systemd|supervisor`, `@@state running|stopped|failed`,
/// `@@pid N`, `@@restarts N`, `@@runas USER`, `@@error:REASON`.
public enum ServiceScripts {
    /// Where the install script puts the supervisor: root's, in a directory only root can change.
    public static let supervisorPath = "/usr/local/sbin/tpu-llm-supervise"

    /// Installs (or re-installs with a new command line) and starts the service.
    public static func install(_ spec: EngineLaunchSpec, supervisorScript: String, unitTemplate: String) throws -> BoardScriptCall {
        let unit = unitTemplate
            .replacingOccurrences(of: "@NAME@", with: spec.name)
            .replacingOccurrences(of: "@DIR@", with: spec.directory)
            .replacingOccurrences(of: "@EXEC@", with: spec.commandLine.map(systemdQuoted).joined(separator: " "))
        return BoardScriptCall(script: try .named("service-install.sh"),
                               arguments: [spec.name, spec.directory, spec.user, supervisorScript, unit, rcLocalLine(spec)] + spec.commandLine)
    }

    /// The command /etc/rc.local runs at boot for `spec` (the install script adds its tag).
    static func rcLocalLine(_ spec: EngineLaunchSpec) -> String {
        shellCommand([supervisorPath, "start", spec.name, spec.user, spec.directory] + spec.commandLine) + " >/dev/null 2>&1 || true"
    }

    /// Stops the engine and keeps it from starting at boot; an error when there is no such deployment.
    public static func stop(_ spec: EngineLaunchSpec) throws -> BoardScriptCall {
        BoardScriptCall(script: try .named("service-stop.sh"), arguments: [spec.name, spec.directory])
    }

    /// Reports the service's manager, state, engine pid and restart count.
    public static func status(_ spec: EngineLaunchSpec) throws -> BoardScriptCall {
        BoardScriptCall(script: try .named("service-status.sh"), arguments: [spec.name])
    }

    /// The last `lines` lines of the engine's log and, where systemd runs the service, of its journal.
    public static func logs(_ spec: EngineLaunchSpec, lines: Int) throws -> BoardScriptCall {
        BoardScriptCall(script: try .named("service-logs.sh"), arguments: [spec.logFile, String(max(1, lines)), spec.serviceName])
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
