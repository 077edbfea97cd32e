import Foundation

extension PayloadDistributor {
    /// Readies one board: takes the deployment directory's lock (the one push takes), checks what the board
    /// already holds and that the rest fits, installs and starts the agent and gives it the secret.
    func prepare(_ board: DistributionBoard, files: [PayloadEntry], secret: RolloutSecret,
                 onEvent: @Sendable (DistributionEvent) -> Void) async -> Result<RelayBoard, DistributionError> {
        let name = board.name
        var lock: HeldBoardLock?
        do {
            let directory = try BoardNames.validatedDirectory(board.remoteDir, source: "the distribution's remote directory")
            let scripts = PushScripts(directory: directory)
            let session = board.session
            lock = try await session.take(.deploymentDirectory(directory, command: "distribute"), protecting: directory)
            let names = files.map(\.name)
            let probeOutput = try await session.run(try scripts.probe(names: names).commandLine, timeout: 60)
            let probe = try scripts.parseProbe(probeOutput.stdoutText + probeOutput.stderrText, target: name)
            try probe.requireSafeForRoot(target: name, directory: directory)
            // Present: what push would skip (the manifest records it at this size and hash, and the file has that size).
            let present = files.filter(probe.holds).map(\.name)
            let needed = PushPreflight.bytesNeeded(
                sizes: files.filter { !present.contains($0.name) }.map(\.size),
                keptPrefixes: files.filter { !present.contains($0.name) }.map { min(probe.sizes[$0.name]?.partial ?? 0, $0.size) })
            if probe.space.availableBytes < needed {
                throw DistributionError.notEnoughSpace(board: name, directory: directory, freeBytes: probe.space.availableBytes, neededBytes: needed)
            }
            let agentPath: String
            switch agent.path(forArch: probe.arch) {
            case .found(let path): agentPath = path
            case .missing(let searched): throw DistributionError.agentMissing(board: name, arch: probe.arch, searched: searched)
            }
            let made = try await session.run(try scripts.makeDirectory().commandLine, timeout: 60).stdoutText
            if let error = made.split(separator: "\n").first(where: { $0.hasPrefix("@@error ") }) {
                throw PushError.remoteDirectoryUnusable(target: name, directory: directory, reason: String(error.dropFirst(8)))
            }
            let script = try BoardScript.named("relay-agent.sh")
            let agentBytes: [UInt8]
            do { agentBytes = Array(try Data(contentsOf: URL(fileURLWithPath: agentPath))) } catch {
                throw DistributionError.agentMissing(board: name, arch: probe.arch, searched: [agentPath])
            }
            // The agent stays in the directory between runs: sent again only when it changed.
            let agentSHA256 = Digest.hex(Digest.sha256(agentBytes))
            let have = try await session.run(script.commandLine(["have", directory, agentSHA256]), timeout: 60)
            if !have.stdoutText.contains("@@have") {
                let installed = try await session.run(script.commandLine(["install", directory]), input: agentBytes, timeout: 120)
                guard installed.stdoutText.contains("@@ok") else {
                    throw DistributionError.agentDidNotStart(board: name, output: installed.stdoutText + installed.stderrText)
                }
            }

            let relay = RelayBoard(board: board, scripts: scripts, lock: lock, manifest: probe.manifest, alreadyThere: present)
            lock = nil
            var arguments = ["run", directory, agentSHA256, String(idleSeconds), "0"]
            for file in files {
                arguments += [file.name, String(file.size), file.sha256, String(file.mode, radix: 8), present.contains(file.name) ? "1" : "0"]
            }
            do {
                try await relay.channel.start(script.commandLine(arguments))
                guard case .ready(let port, let pid) = try await relay.await(seconds: 60, until: { if case .ready = $0 { return true }; return false }) else {
                    throw DistributionError.agentDidNotStart(board: name, output: relay.strayOutput)
                }
                relay.port = port
                for line in relay.backlog {
                    if case .address(let address) = RelayAgentLine(line) { relay.address = address }
                    if case .kept(let file, let bytes) = RelayAgentLine(line), file < files.count {
                        onEvent(.kept(board: name, file: files[file].name, bytes: bytes))
                    }
                }
                relay.backlog.removeAll { if case .address = RelayAgentLine($0) { return true }; if case .kept = RelayAgentLine($0) { return true }; return false }
                try await relay.channel.send(line: "K \(secret.token)")
                guard try await relay.await(seconds: 30, until: { $0 == .keyed }) != nil else {
                    throw DistributionError.agentDidNotStart(board: name, output: relay.strayOutput)
                }
                onEvent(.agentStarted(board: name, address: relay.address, port: port, pid: pid))
                return .success(relay)
            } catch {
                await relay.finish()
                throw error
            }
        } catch {
            await lock?.release()
            return .failure(Self.distributionError(error, board: name))
        }
    }

    /// The coded error for what went wrong on `board`.
    static func distributionError(_ error: Error, board: String) -> DistributionError {
        switch error {
        case let error as DistributionError: return error
        case let error as BoardBusyError: return .preparationFailed(board: board, code: "board_busy", message: error.description)
        case let error as PushError:
            if case .remoteDirectoryUnusable = error { return .preparationFailed(board: board, code: "directory_unusable", message: error.description) }
            return .preparationFailed(board: board, code: "preparation_failed", message: error.description)
        case let error as SSHError: return .connectionLost(board: board, reason: error.description)
        default: return .preparationFailed(board: board, code: "preparation_failed", message: "\(error)")
        }
    }
}

extension RelayBoard {
    /// Ends the agent (its input closes; it exits), frees the channel and the board's lock.
    func finish() async {
        await channel.endInput()
        _ = try? await self.await(seconds: 10) { if case .exit = $0 { return true }; return false }
        await channel.close()
        await lock?.release()
        lock = nil
    }
}
