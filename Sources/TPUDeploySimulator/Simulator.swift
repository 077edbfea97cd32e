import Foundation

/// Simulated BM1684X SoC boards made of real parts: each board is a real OpenSSH server in its own network,
/// pid, mount and UTS namespace, booting from a real FIT `/boot/emmcboot.itb` that U-Boot's own tools check.
/// A `Simulator` is a handle on one state directory; every method can be called from any process.
public struct Simulator: Sendable {
    /// `$TPUDEPLOY_SIM_DIR` when set, else `/var/lib/tpudeploy-sim`.
    public static var defaultStateDirectory: URL {
        if let directory = ProcessInfo.processInfo.environment["TPUDEPLOY_SIM_DIR"], !directory.isEmpty {
            return URL(fileURLWithPath: directory)
        }
        return URL(fileURLWithPath: "/var/lib/tpudeploy-sim")
    }

    /// Where this simulator keeps its boards, keys and known_hosts.
    public let stateDirectory: URL
    let layout: StateLayout

    /// A handle on the boards of `stateDirectory`; creates nothing until `up`.
    public init(stateDirectory: URL = Simulator.defaultStateDirectory) {
        self.stateDirectory = stateDirectory.standardizedFileURL
        layout = StateLayout(root: self.stateDirectory)
    }

    /// Host tools the boards are made of, checked before anything is created.
    static let requiredTools = [
        "ip", "unshare", "setsid", "mount", "umount", "/usr/sbin/sshd", "ssh-keygen", "openssl", "mkimage", "dumpimage",
        "dtc", "fdtget", "gzip", "sudo", "ss", "timeout", "perl", "/usr/lib/openssh/sftp-server",
    ]

    /// Creates `options.boards` new boards (named after `options.namePrefix`, never reusing a name of this state
    /// directory) and returns once every one of them answers SSH.
    public func up(_ options: SimulatorOptions = SimulatorOptions()) throws -> [SimulatedBoard] {
        try options.validate()
        guard getuid() == 0 else { throw SimulatorError.notRoot }
        for tool in Self.requiredTools where CommandRunner.locate(tool) == nil {
            throw SimulatorError.missingTool(tool.split(separator: "/").last.map(String.init) ?? tool)
        }
        let started = try layout.withLock { try startBoards(options) }
        do {
            for board in started { try waitUntilUp(board.name, timeout: options.bootDelay + 60) }
        } catch {
            try? down(names: started.map(\.name))
            throw error
        }
        return started
    }

    /// Stops boards (all of them when `names` is nil) and removes everything they had: processes, namespaces,
    /// mounts, veth pairs, state; the bridge goes with the last board. A name that is no board of this state
    /// directory is refused before anything stops (a typo must not look like success). Returns the names of the
    /// boards stopped.
    @discardableResult
    public func down(names: [String]? = nil) throws -> [String] {
        guard FileManager.default.fileExists(atPath: stateDirectory.path) else {
            if let name = names?.first { throw SimulatorError.unknownBoard(name: name, stateDirectory: stateDirectory.path) }
            return []
        }
        guard getuid() == 0 else { throw SimulatorError.notRoot }
        return try layout.withLock {
            if let names {
                let present = Set(layout.boardNames())
                if let unknown = names.first(where: { !present.contains($0) }) {
                    throw SimulatorError.unknownBoard(name: unknown, stateDirectory: stateDirectory.path)
                }
            }
            return try stopBoards(names)
        }
    }

    /// Every board of this state directory with its power state.
    public func list() throws -> [SimulatedBoardStatus] {
        try layout.records().map { SimulatedBoardStatus(board: $0.board, state: powerState($0)) }
    }

    /// The board named `name`, as `up` returned it.
    public func board(named name: String) throws -> SimulatedBoard {
        try layout.record(name).board
    }

    /// Whether the board is booting, up, bricked or down.
    public func state(of name: String) throws -> BoardPowerState {
        try powerState(layout.record(name))
    }

    /// Waits until the board is up and its sshd answers; throws at once when it is bricked.
    public func waitUntilUp(_ name: String, timeout: Double) throws {
        let record = try layout.record(name)
        let deadline = Date().addingTimeInterval(timeout)
        var last = BoardPowerState.down
        repeat {
            last = powerState(record)
            switch last {
            case .up where SSHBanner.answers(host: record.board.host, port: record.board.port): return
            case .bricked(let reason): throw SimulatorError.bricked(name: name, reason: reason)
            default: Thread.sleep(forTimeInterval: 0.05)
            }
        } while Date() < deadline
        throw SimulatorError.bootTimedOut(name: name, seconds: timeout, lastState: last.description, bootLog: bootLog(of: name, lines: 15))
    }

    /// The ion heap sizes the board published at its last boot: "npu", "vpu", "vpp" → bytes (absent heaps left out).
    public func liveHeaps(of name: String) throws -> [String: UInt64] {
        let filesystem = BoardFilesystem(directory: try layout.record(name).board.stateDirectory.fileURL)
        var heaps: [String: UInt64] = [:]
        for heap in ["npu", "vpu", "vpp"] {
            let file = filesystem.file("debugfs/ion/bm_\(heap)_heap_dump/total_mem")
            if let text = try? String(contentsOf: file, encoding: .utf8),
               let bytes = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                heaps[heap] = bytes
            }
        }
        return heaps
    }

    /// Power-cycles the board from the host: the same boot path as `sudo reboot` on the board. Returns at once;
    /// use `waitUntilUp` to wait for it. Starts the board again if its processes are gone.
    public func reboot(_ name: String) throws {
        let record = try layout.record(name)
        let filesystem = BoardFilesystem(directory: record.board.stateDirectory.fileURL)
        let boardInit = BoardInit(filesystem: filesystem, namespace: record.network.namespace(board: name))
        try writeStatus("booting", to: filesystem)
        if boardInit.requestReboot() { return }
        guard getuid() == 0 else { throw SimulatorError.notRoot }
        try layout.withLock {
            guard SimNetwork.existing(in: layout) == record.network else {
                throw SimulatorError.stateFile(path: layout.networkFile.path,
                                               problem: "board \(name) is not running and its network is gone (was the host rebooted?)")
            }
            try record.network.attach(board: name, slot: record.slot)
            try boardInit.start()
        }
    }

    /// The last `lines` lines of the board's boot log (empty when there is none).
    public func bootLog(of name: String, lines: Int = 40) -> String {
        let file = layout.boardDirectory(name).appendingPathComponent("boot.log")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines + 1).joined(separator: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: - Building and removing boards (callers hold the state lock)

    private func startBoards(_ options: SimulatorOptions) throws -> [SimulatedBoard] {
        try FileManager.default.createDirectory(at: layout.boardsDirectory, withIntermediateDirectories: true)
        let clientPublicKey = try ensureClientKey()
        let existing = try layout.records()
        let network = try SimNetwork.existing(in: layout)
            ?? SimNetwork.create(in: layout, isDefaultStateDirectory: stateDirectory == Self.defaultStateDirectory.standardizedFileURL)
        let image = try buildBootImage(options)
        defer { try? FileManager.default.removeItem(at: image) }

        var takenNames = Set((try? FileManager.default.contentsOfDirectory(atPath: layout.boardsDirectory.path)) ?? [])
        var takenSlots = Set(existing.filter { $0.network == network }.map(\.slot))
        var started: [String] = []
        do {
            var boards: [SimulatedBoard] = []
            for _ in 0..<options.boards {
                let name = (1...).lazy.map { "\(options.namePrefix)\($0)" }.first { !takenNames.contains($0) }!
                guard let slot = (1...SimNetwork.maximumSlot).first(where: { !takenSlots.contains($0) }) else {
                    throw SimulatorError.invalidOptions("at most \(SimNetwork.maximumSlot) boards per state directory")
                }
                takenNames.insert(name)
                takenSlots.insert(slot)
                started.append(name)
                boards.append(try startBoard(name: name, slot: slot, network: network, options: options,
                                             image: image, clientPublicKey: clientPublicKey))
            }
            try writeKnownHosts()
            return boards
        } catch {
            try? stopBoards(started)
            throw error
        }
    }

    private func startBoard(name: String, slot: Int, network: SimNetwork, options: SimulatorOptions, image: URL,
                            clientPublicKey: String) throws -> SimulatedBoard {
        let filesystem = BoardFilesystem(directory: layout.boardDirectory(name))
        try FileManager.default.createDirectory(at: filesystem.directory, withIntermediateDirectories: true)
        guard let software = SimulatedSoCImage.release(libsophon: options.libsophonVersion) else {
            throw SimulatorError.invalidOptions("libsophon \(options.libsophonVersion) is not a release the simulator offers")
        }
        try filesystem.create(name: name, dtbName: options.dtbName, bootDelay: options.bootDelay, image: software,
                              clientPublicKey: clientPublicKey)
        let host = network.boardAddress(slot: slot)
        let hostKey = try filesystem.hostKey(host: host, port: 22)
        let board = SimulatedBoard(
            name: name, host: host, port: 22, identityFile: layout.clientKey.path, knownHostsFile: layout.knownHosts.path,
            linaroPassword: BoardFilesystem.linaroPassword, hostKeyFingerprint: hostKey.fingerprint,
            stateDirectory: filesystem.directory.path, ram: options.ram, dtbName: options.dtbName)
        let record = BoardRecord(board: board, slot: slot, network: network, bootDelay: options.bootDelay,
                                 bootPartitionMiB: options.bootPartitionMiB)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(record).write(to: layout.recordFile(name), options: .atomic)
        try filesystem.mountBoot(mebibytes: options.bootPartitionMiB, imageDirectory: image)
        try filesystem.mountData(mebibytes: options.dataPartitionMiB)
        try network.attach(board: name, slot: slot)
        try BoardInit(filesystem: filesystem, namespace: network.namespace(board: name)).start()
        return board
    }

    @discardableResult
    private func stopBoards(_ names: [String]?) throws -> [String] {
        let present = layout.boardNames()
        let selected = names.map { wanted in present.filter(wanted.contains) } ?? present
        var failures: [String] = []
        for name in selected {
            let filesystem = BoardFilesystem(directory: layout.boardDirectory(name))
            let record = try? layout.record(name)
            let network = record?.network ?? SimNetwork.existing(in: layout)
            BoardInit(filesystem: filesystem, namespace: network?.namespace(board: name) ?? "").stop()
            if let record { record.network.detach(board: name, slot: record.slot) }
            do {
                try filesystem.unmountAll()
                try FileManager.default.removeItem(at: filesystem.directory)
            } catch {
                failures.append("\(name): \(error)")
            }
        }
        let remaining = (try? FileManager.default.contentsOfDirectory(atPath: layout.boardsDirectory.path)) ?? []
        if remaining.isEmpty {
            let recorded = (try? Data(contentsOf: layout.networkFile)).flatMap { try? JSONDecoder().decode(SimNetwork.self, from: $0) }
            recorded?.removeBridge(layout: layout)
            try? FileManager.default.removeItem(at: layout.imagesDirectory)
        }
        // A board half-removed has lost its host key: its failure is the news, not the known_hosts rewrite.
        if !failures.isEmpty {
            try? writeKnownHosts()
            throw SimulatorError.commandFailed(command: "sim down", message: failures.joined(separator: "; "))
        }
        try writeKnownHosts()
        return selected
    }

    // MARK: - Helpers

    private func powerState(_ record: BoardRecord) -> BoardPowerState {
        let filesystem = BoardFilesystem(directory: record.board.stateDirectory.fileURL)
        guard BoardInit(filesystem: filesystem, namespace: record.network.namespace(board: record.board.name)).hostPID() != nil else {
            return .down
        }
        let status = ((try? String(contentsOf: filesystem.statusFile, encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        switch status {
        case "up": return .up
        case "down": return .down
        case let text where text.hasPrefix("bricked:"):
            return .bricked(String(text.dropFirst("bricked:".count)).trimmingCharacters(in: .whitespaces))
        default: return .booting
        }
    }

    private func writeStatus(_ status: String, to filesystem: BoardFilesystem) throws {
        let temporary = filesystem.file("status.host")
        try Data("\(status)\n".utf8).write(to: temporary)
        _ = rename(temporary.path, filesystem.statusFile.path)
    }

    /// The client key pair authorised on every board; made once per state directory.
    private func ensureClientKey() throws -> String {
        let key = layout.clientKey
        if !FileManager.default.fileExists(atPath: key.path) {
            try FileManager.default.createDirectory(at: key.deletingLastPathComponent(), withIntermediateDirectories: true)
            try CommandRunner.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "tpudeploy-sim-client", "-f", key.path])
        }
        return try String(contentsOf: key.appendingPathExtension("pub"), encoding: .utf8)
    }

    /// Rewrites `known_hosts` from the host keys of the boards present.
    private func writeKnownHosts() throws {
        var lines: [String] = []
        for record in try layout.records() {
            let filesystem = BoardFilesystem(directory: record.board.stateDirectory.fileURL)
            lines.append(try filesystem.hostKey(host: record.board.host, port: record.board.port).knownHostsLine)
        }
        try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: layout.knownHosts, options: .atomic)
    }

    /// Builds the factory boot image with the shared recipe (`build-boot-image.sh`) into a scratch directory: every
    /// vendor board dtb of `Resources/boot/boards`, each with its own factory layout, as a real multi.its carries.
    private func buildBootImage(_ options: SimulatorOptions) throws -> URL {
        let directory = layout.imagesDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            try CommandRunner.run("bash", [
                SimulatorResources.bootImageBuilder.path, "--out", directory.path, "--family", "vendor", "--board", options.dtbName,
                "--ram", options.ram.rawValue, "--kernel-kib", String(options.kernelKiB), "--ramdisk-kib", String(options.ramdiskKiB),
            ])
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        try? FileManager.default.removeItem(at: directory.appendingPathComponent("work"))
        return directory
    }
}

extension String {
    var fileURL: URL { URL(fileURLWithPath: self) }
}
