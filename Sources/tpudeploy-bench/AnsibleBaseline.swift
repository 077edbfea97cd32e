import Foundation

/// Ansible (ansible-core from PyPI, in the project's venv) run against simulated boards as a site would: the same
/// inventory `tpudeploy sim up` wrote, the simulator's key, its known_hosts with strict host key checking.
/// Ansible's own defaults stay (ssh with ControlMaster/ControlPersist, no pipelining unless asked), except the
/// Python interpreter, given so that no run pays for interpreter discovery (the baseline's best case).
struct AnsibleBaseline {
    var venv: URL
    var inventory: URL
    var identityFile: String
    var knownHostsFile: String
    /// Ansible's home, local temp and ssh control sockets live here, not in ~/.ansible.
    var scratch: URL

    var ansible: String { venv.appendingPathComponent("bin/ansible").path }
    var ansiblePlaybook: String { venv.appendingPathComponent("bin/ansible-playbook").path }

    /// Whether ansible-core is installed in the venv.
    var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: ansible) }

    var version: String {
        let text = (try? runProcess(ansible, ["--version"], environment: environment(pipelining: false))) ?? ""
        return text.split(separator: "\n").first.map(String.init) ?? "unknown"
    }

    private var controlDirectory: URL { scratch.appendingPathComponent("cp") }

    func environment(pipelining: Bool, remoteTemp: String? = nil) -> [String: String] {
        var environment = [
            "ANSIBLE_HOME": scratch.appendingPathComponent("home").path,
            "ANSIBLE_LOCAL_TEMP": scratch.appendingPathComponent("tmp").path,
            "ANSIBLE_SSH_CONTROL_PATH_DIR": controlDirectory.path,
            "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
            "ANSIBLE_PIPELINING": pipelining ? "True" : "False",
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_NOCOLOR": "1",
            // cryptography's deprecation notices on every start are noise, not Ansible's output.
            "PYTHONWARNINGS": "ignore",
        ]
        if let remoteTemp { environment["ANSIBLE_REMOTE_TEMP"] = remoteTemp }
        return environment
    }

    /// The arguments every `ansible` and `ansible-playbook` run takes: the inventory and how to log in.
    var connectionArguments: [String] {
        ["-i", inventory.path, "-u", "root", "--private-key", identityFile,
         "--ssh-common-args=-o UserKnownHostsFile=\(knownHostsFile) -o StrictHostKeyChecking=yes"]
    }

    /// `ansible all -m MODULE [-a ARGS] -f FORKS`, metered; its ssh control masters are closed afterwards, so
    /// every run starts cold, as tpudeploy's do.
    func adHoc(module: String, arguments: String? = nil, forks: Int, pipelining: Bool, remoteTemp: String? = nil,
               deadlineSeconds: Int, log: URL) throws -> MeteredRun {
        defer { closeControlMasters() }
        var command = [ansible, "all"] + connectionArguments + ["-m", module, "-f", String(forks)]
        if let arguments { command += ["-a", arguments] }
        return try meteredRun(command, environment: environment(pipelining: pipelining, remoteTemp: remoteTemp),
                              deadlineSeconds: deadlineSeconds, log: log)
    }

    /// `ansible-playbook PLAYBOOK -e @VARS -f FORKS`, metered and started cold, as `adHoc`.
    func playbook(_ playbook: URL, extraVariables: URL, forks: Int, pipelining: Bool, deadlineSeconds: Int, log: URL) throws -> MeteredRun {
        defer { closeControlMasters() }
        let command = [ansiblePlaybook, playbook.path] + connectionArguments + ["-e", "@\(extraVariables.path)", "-f", String(forks)]
        return try meteredRun(command, environment: environment(pipelining: pipelining), deadlineSeconds: deadlineSeconds, log: log)
    }

    static let notInstalled = "not measured: ansible-core is not installed in build/venv (make bench installs it)"

    /// One measured tool per setting: Ansible's defaults `runs` times, then pipelining on once. `run` makes one
    /// metered run (pipelining, run index); `passed` counts the hosts it reports done.
    func variants(tool: String, command: String, boards: Int, runs: Int, passed: (String) -> Int,
                  _ run: (_ pipelining: Bool, _ index: Int) throws -> MeteredRun) rethrows -> [FleetBenchmarkResult.Tool] {
        try [false, true].map { pipelining in
            let measured = try (0..<(pipelining ? 1 : runs)).map { index in
                let result = try run(pipelining, index)
                return FleetBenchmarkResult.Run(result, boardsOK: passed(result.output))
            }
            return FleetBenchmarkResult.Tool(tool: "\(tool) (\(pipelining ? "pipelining on" : "defaults"))",
                                             command: command + (pipelining ? " (ANSIBLE_PIPELINING=True)" : ""),
                                             runs: measured, boardsInFlight: boards)
        }
    }

    /// Hosts of the PLAY RECAP with nothing failed and nothing unreachable
    /// (`evb1 : ok=5 changed=0 unreachable=0 failed=0 ...`).
    static func hostsPassedPlaybook(_ output: String) -> Int {
        guard let recap = output.range(of: "PLAY RECAP") else { return 0 }
        return output[recap.upperBound...].split(separator: "\n").filter { line in
            let fields = line.split(separator: " ")
            return fields.contains { $0.hasPrefix("ok=") } && fields.contains("unreachable=0") && fields.contains("failed=0")
        }.count
    }

    /// Hosts the default callback reported as `SUCCESS` or `CHANGED` (`host | SUCCESS => {`).
    static func succeededHosts(_ output: String) -> Int {
        output.split(separator: "\n").filter { line in
            let parts = line.components(separatedBy: " | ")
            return parts.count >= 2 && !parts[0].contains(" ") && (parts[1].hasPrefix("SUCCESS") || parts[1].hasPrefix("CHANGED"))
        }.count
    }

    /// Stops the ControlPersist masters a run left (they outlive it by 60 s): only ours, by their sockets.
    func closeControlMasters() {
        let sockets = (try? FileManager.default.contentsOfDirectory(atPath: controlDirectory.path)) ?? []
        for socket in sockets {
            _ = try? runProcess("/usr/bin/ssh", ["-o", "ControlPath=\(controlDirectory.appendingPathComponent(socket).path)", "-O", "exit", "ansible-master"])
        }
    }
}
