import Foundation

extension PayloadDistributor {
    /// Runs one board's agent to the end: tells it its sources, reports what it does, sends it what it asks the
    /// host for, records its files in the manifest once all are in place, and keeps it serving the boards after
    /// it until every board is finished.
    func run(_ relay: RelayBoard, sources: [String], files: [PayloadEntry], names: [String: String],
             finished: FinishedBoards, onEvent: @escaping @Sendable (DistributionEvent) -> Void) async {
        let name = relay.name
        func from(_ peer: String) -> String { names[peer] ?? peer }
        func fileName(_ index: Int) -> String { index >= 0 && index < files.count ? files[index].name : "file \(index)" }
        func conclude(_ outcome: DistributionOutcome) async {
            guard relay.outcome == nil else { return }
            relay.outcome = outcome
            await finished.finish()
            onEvent(.finished(board: name, outcome: outcome))
        }
        var feed: (file: Int, offset: UInt64)?
        do {
            try await relay.channel.send(line: (["S"] + sources).joined(separator: " "))
            var pending = relay.backlog
            relay.backlog = []
            while true {
                var frame: HostFrame?
                if let current = feed, current.file < files.count {
                    let entry = files[current.file]
                    let length = Int(min(UInt64(frameBytes), entry.size - current.offset))
                    if length > 0 { frame = HostFrame(path: entry.localPath, file: current.file, offset: current.offset, length: length) }
                }
                let (lines, ended, sent) = try await relay.channel.step(frame: frame)
                if let current = feed {
                    relay.bytesFromHost += sent
                    let offset = current.offset + sent
                    feed = offset < files[current.file].size ? (current.file, offset) : nil
                }
                pending += lines
                for line in pending {
                    switch RelayAgentLine(line) {
                    case .need(let file, let offset) where file < files.count:
                        feed = (file, offset)
                        relay.sources[files[file].name, default: []].append("host")
                        onEvent(.source(board: name, file: fileName(file), from: "host", offset: offset))
                    case .source(let file, let peer, let offset):
                        relay.sources[fileName(file), default: []].append(from(peer))
                        onEvent(.source(board: name, file: fileName(file), from: from(peer), offset: offset))
                    case .lost(let file, let peer, let offset, let reason):
                        onEvent(.sourceLost(board: name, file: fileName(file), from: from(peer), offset: offset, reason: reason))
                    case .progress(let file, let bytes) where file < files.count:
                        onEvent(.progress(board: name, file: files[file].name, bytes: bytes, size: files[file].size))
                    case .installed(let file):
                        onEvent(.installed(board: name, file: fileName(file)))
                    case .refused(let peer, let reason):
                        onEvent(.refused(board: name, peer: peer, reason: reason))
                    case .failed(let file, let code, let message):
                        await conclude(.failed(.fileFailed(board: name, file: fileName(file), agentCode: code, message: message)))
                    case .done where relay.outcome == nil:
                        await conclude(await record(relay, files: files))
                    default:
                        break
                    }
                }
                pending = []
                if ended {
                    await conclude(.failed(.agentExited(board: name, output: relay.strayOutput)))
                    break
                }
                if relay.outcome != nil, await finished.all { break }
                if cancelled() {
                    await conclude(.failed(.interrupted(board: name)))
                    break
                }
                // Idle boards are looked at ten times a second: their agents report at most four times a second.
                if lines.isEmpty && feed == nil { try? await Task.sleep(nanoseconds: 100_000_000) }
            }
        } catch {
            await conclude(.failed(Self.distributionError(error, board: name)))
        }
        // This board is done with; the others may still pull from it until every board is finished.
        // Once stopped, no board waits for the others: every agent is ended at once, keeping its partial files.
        while !(await finished.all), !cancelled() { try? await Task.sleep(nanoseconds: 100_000_000) }
        await relay.finish()
    }

    /// Records the files in the deployment directory's manifest, as push does after each file it installs. A
    /// board that received nothing (a seed of a rollout, serving its files) keeps its manifest untouched: its
    /// engine started after the manifest last changed, and a rewrite would make it look older than its files.
    private func record(_ relay: RelayBoard, files: [PayloadEntry]) async -> DistributionOutcome {
        var manifest = relay.manifest
        for file in files { manifest.record(file) }
        let receivedNothing = manifest == relay.manifest && files.allSatisfy { relay.alreadyThere.contains($0.name) }
        if !receivedNothing {
            do {
                let written = try await relay.board.session.run(relay.scripts.writeManifest, input: Array((manifest.jsonLine + "\n").utf8), timeout: 60)
                guard written.stdoutText.contains("@@ok") else {
                    return .failed(.manifestNotWritten(board: relay.name, output: written.stderrText))
                }
            } catch {
                return .failed(Self.distributionError(error, board: relay.name))
            }
        }
        relay.manifest = manifest
        return .ok(DistributedBoard(board: relay.name, alreadyThere: relay.alreadyThere, bytesFromHost: relay.bytesFromHost,
                                    sources: relay.sources, seconds: Date().timeIntervalSince(relay.started)))
    }
}
