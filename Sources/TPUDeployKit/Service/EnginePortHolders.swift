import Foundation

/// Who else holds an engine port on a board: another deployment whose service is enabled or running with the
/// same `--port`, or any program listening there. Two engines must never share a port (with SO_REUSEPORT the
/// kernel would split one's clients between them), so `launch` refuses, naming the holder.
public struct EnginePortHolder: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A tpudeploy deployment, from its service (`systemd` or `supervisor`).
        case deployment(name: String, directory: String, manager: String)
        /// A process listening on the port; `deployment` when it is an engine started with `--model-name`.
        case listener(pid: Int, command: String, deployment: String?)
    }

    public var kind: Kind

    /// Parses the `@@holder` and `@@listener` lines of `EnginePortHolders.script`.
    public static func parse(_ output: String) -> [EnginePortHolder] {
        var holders: [EnginePortHolder] = []
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            switch fields.first {
            case "@@holder" where fields.count == 4 && !fields[1].isEmpty:
                holders.append(EnginePortHolder(kind: .deployment(name: fields[1], directory: fields[2], manager: fields[3])))
            case "@@listener" where fields.count == 4:
                guard let pid = Int(fields[1]) else { continue }
                holders.append(EnginePortHolder(kind: .listener(pid: pid, command: fields[3], deployment: fields[2].isEmpty ? nil : fields[2])))
            default:
                continue
            }
        }
        // A deployment found both by its service and by its listening engine is named once.
        let named = Set(holders.compactMap { holder -> String? in
            if case .deployment(let name, _, _) = holder.kind { return name }
            return nil
        })
        return holders.filter {
            if case .listener(_, _, let deployment?) = $0.kind { return !named.contains(deployment) }
            return true
        }
    }
}

/// Refusal to launch on a port another deployment or program holds.
public enum EnginePortError: Error, CustomStringConvertible, Sendable, Equatable {
    case held(port: Int, deployment: String, by: EnginePortHolder)

    public var description: String {
        switch self {
        case .held(let port, let deployment, let holder):
            let other = "give \(deployment) another port with --engine-port N (or deployment.port in tpudeploy.yaml)"
            switch holder.kind {
            case .deployment(let name, let directory, let manager):
                return "port \(port) on the board is held by deployment \(name) (\(directory), under \(manager)); not launching \(deployment) beside it: \(other), or stop \(name) first with `tpudeploy stop --name \(name) --remote-dir \(directory)`."
            case .listener(let pid, let command, let name?):
                return "port \(port) on the board is in use by the engine of deployment \(name) (pid \(pid), \(command)); not launching \(deployment) beside it: \(other), or stop \(name) first with `tpudeploy stop --name \(name)`."
            case .listener(let pid, let command, nil):
                return "port \(port) on the board is in use by \(command) (pid \(pid)); not launching \(deployment) there: \(other), or stop that program."
            }
        }
    }
}

public enum EnginePortHolders {
    /// Prints, tab-separated, `@@holder NAME DIR MANAGER` for each other deployment whose service is enabled or
    /// running with `--port PORT`, and `@@listener PID MODEL-NAME COMMAND` for each process listening on PORT
    /// that is not this deployment's engine. Run as root (to see every process); arguments: port, this
    /// deployment's name.
    static let script = #"""
        set -u
        port=$1; self=$2
        tab=$(printf '\t')
        # The value after `--port` in a deployment's engine.args (one argument per line).
        args_value() { awk -v option="$2" 'previous == option { print; exit } { previous = $0 }' "$1" 2>/dev/null; }
        seen=" "
        report() { # name dir manager
          case "$seen" in *" $1 "*) return ;; esac
          seen="$seen$1 "
          [ "$1" = "$self" ] && return
          [ "$(args_value "$2/service/engine.args" --port)" = "$port" ] || return
          printf '@@holder\t%s\t%s\t%s\n' "$1" "$2" "$3"
        }
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
          for unit in /etc/systemd/system/tpudeploy-*.service; do
            [ -f "$unit" ] || continue
            service=${unit##*/}; name=${service#tpudeploy-}; name=${name%.service}
            if systemctl is-enabled --quiet "$service" 2>/dev/null || systemctl is-active --quiet "$service" 2>/dev/null; then
              report "$name" "$(sed -n 's/^WorkingDirectory=//p' "$unit" | head -n 1)" systemd
            fi
          done
        fi
        # Supervisors that run: `sh DIR/service/tpu-llm-supervise run DIR`.
        for cmdline in /proc/[0-9]*/cmdline; do
          dir=$( { tr '\000' '\n' < "$cmdline"; } 2>/dev/null | awk 'state == 2 { print; exit } state == 1 { state = ($0 == "run") ? 2 : 0; next } /\/tpu-llm-supervise$/ { state = 1 }')
          [ -n "$dir" ] || continue
          name=$(args_value "$dir/service/engine.args" --model-name)
          [ -n "$name" ] && report "$name" "$dir" supervisor
        done
        # Anything listening on the port.
        if command -v ss >/dev/null 2>&1; then
          for pid in $(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
            args=$( { tr '\000' '\n' < "/proc/$pid/cmdline"; } 2>/dev/null)
            name=$(printf '%s\n' "$args" | awk 'previous == "--model-name" { print; exit } { previous = $0 }')
            [ -n "$name" ] && [ "$name" = "$self" ] && continue
            command=$(printf '%s\n' "$args" | head -n 1 | tr "$tab" ' ')
            printf '@@listener\t%s\t%s\t%s\n' "$pid" "$name" "${command:-?}"
          done
        fi
        echo "@@done"
        """#
}

extension EngineServiceManager {
    /// Refuses when another deployment or program holds `spec.port` on the board, naming it.
    public func requirePortFree(_ spec: EngineLaunchSpec) async throws {
        let arguments = [String(spec.port), spec.name].map(shellQuoted).joined(separator: " ")
        let result = try await root.run("set -- \(arguments)\n" + EnginePortHolders.script, timeout: 30)
        guard result.stdoutText.contains("@@done") else {
            throw ServiceError.scriptFailed("cannot find out who uses port \(spec.port) on the board: \(result.stderrText)")
        }
        if let holder = EnginePortHolder.parse(result.stdoutText).first {
            throw EnginePortError.held(port: spec.port, deployment: spec.name, by: holder)
        }
    }
}

extension EnginePortError: CodedError {
    public var errorCode: String { "port_held" }
}
