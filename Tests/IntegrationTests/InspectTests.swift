import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let profiles = ProfileStore(directory: repositoryRoot.appendingPathComponent("Profiles"))
private let mebibyte: UInt64 = 1 << 20

private func inspect(_ target: SSHTarget, model: String? = nil, password: String? = nil) async throws -> BoardReport {
    let provider: PasswordProvider = { _ in password }
    let session = try await SSHSession.connect(to: target, passwordProvider: provider)
    let inspector = BoardInspector(profiles: profiles, model: try model.map { try profiles.model(named: $0) }, passwordProvider: provider)
    let report = try await inspector.inspect(session)
    await session.close()
    return report
}

@Suite("inspect on simulated boards", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct InspectIntegrationTests {
    @Test func factory16GBEVBShowsItsLayoutAndTheFixForAnLLM() async throws {
        try await SimulatedBoardHarness.withBoards(ram: .gb16) { _, boards in
            let board = boards[0]
            let report = try await inspect(SimulatedBoardHarness.rootTarget(board), model: "chatglm2-6b")
            // The default board runs the 2023 image (libsophon 0.4.9): the only warning is that it is too old.
            #expect(report.warnings.count == 1)
            #expect(report.llmRuntimeCheck.verdict == .outdated)
            #expect(report.hostname == board.name)
            #expect(report.dtb == "bm1684x_evb_v0.0.dtb")
            #expect(report.board == "1684x_evb")
            #expect(report.chip == "BM1684X")
            #expect(report.versions.libsophon == "0.4.9")
            #expect(report.ddr?.totalBytes == 16 << 30)
            #expect(report.ddr?.banks.map(\.id) == [1, 2, 3, 4])
            let npu = try #require(report.heaps.first { $0.name == "npu" })
            #expect(npu.configuredStart == 0x1_2410_0000)
            #expect(npu.configuredBytes == 0xF6E0_0000)
            #expect(npu.liveBytes == 0xF6E0_0000)
            #expect(report.heaps.first { $0.name == "vpu" }?.liveBytes == 0x7FF0_0000)  // 2 GiB - 1 MiB since v25.03.01
            #expect(report.heaps.first { $0.name == "vpp" }?.liveBytes == 3 << 30)
            #expect(report.rebootPending == false)
            #expect(report.deviceMemory == DeviceMemoryUse(["npu": LiveHeap(totalBytes: 0xF6E0_0000, usedBytes: 0),
                                                            "vpu": LiveHeap(totalBytes: 0x7FF0_0000, usedBytes: 0),
                                                            "vpp": LiveHeap(totalBytes: 3 << 30, usedBytes: 0)]))
            #expect(report.engine.running == false)
            // What the board's own `free` says must be what the report says.
            let free = try SimulatedBoardHarness.openSSH(board, "free -b | awk '/^Mem:/ {print $2}'")
            #expect(report.linux.memTotalBytes == UInt64(free.trimmingCharacters(in: .whitespacesAndNewlines)))
            // chatglm2-6b (6453 MiB) loads on the factory heaps only by spilling into VPP: said, with the cleaner layout.
            #expect(report.diagnosis?.verdict == .spills)
            #expect(report.diagnosis?.usableHeapBytes == 0xF6E0_0000 + (3 << 30) + 0x7FF0_0000)
            #expect(report.diagnosis?.fixCommand == "tpudeploy fix-memory --board 1684x_evb --for-model chatglm2-6b")
        }
    }

    @Test func factory12GBBoardHasThreeBanksAndASmallerNPUHeap() async throws {
        // The SM7M v0.0 comes with 12 GB too; its own layout puts a 2 GiB NPU heap at 0x1_51000000.
        try await SimulatedBoardHarness.withBoards(ram: .gb12, dtb: "bm1684x_sm7m_v0.0") { _, boards in
            let report = try await inspect(SimulatedBoardHarness.rootTarget(boards[0]))
            #expect(report.board == "sm7m")
            #expect(report.ddr?.banks.map(\.id) == [1, 3, 4])
            #expect(report.heaps.first { $0.name == "npu" }?.configuredStart == 0x1_5100_0000)
            #expect(report.heaps.first { $0.name == "npu" }?.configuredBytes == 0x8000_0000)
            #expect(report.heaps.first { $0.name == "npu" }?.liveBytes == 0x8000_0000)
        }
    }

    @Test func aNewLayoutInBootIsReportedAsRebootPendingUntilTheBoardReboots() async throws {
        try await SimulatedBoardHarness.withBoards(ram: .gb16) { harness, boards in
            let board = boards[0]
            // Put a boot image with the 12 GB split for this board's dtb into its /boot, as an edit would.
            let work = harness.stateDirectory.appendingPathComponent("other-image")
            try SimulatedBoardHarness.run(SimulatorResources.bootImageBuilder.path, [
                "--out", work.path, "--board", board.dtbName, "--ram", "12g", "--kernel-kib", "64", "--ramdisk-kib", "64",
            ])
            try SimulatedBoardHarness.run("/usr/bin/scp", [
                "-q", "-i", board.identityFile, "-o", "UserKnownHostsFile=\(board.knownHostsFile)", "-F", "/dev/null",
                "-P", String(board.port), work.appendingPathComponent("emmcboot.itb").path, "root@\(board.host):/boot/emmcboot.itb",
            ])
            let pending = try await inspect(SimulatedBoardHarness.rootTarget(board))
            #expect(pending.rebootPending == true)
            #expect(pending.heaps.first { $0.name == "npu" }?.configuredBytes == 0xDBF0_0000)
            #expect(pending.heaps.first { $0.name == "npu" }?.liveBytes == 0xF6E0_0000)

            let bootID = try SimulatedBoardHarness.openSSH(board, "cat /proc/sys/kernel/random/boot_id")
            try harness.simulator.reboot(board.name)
            try harness.simulator.waitUntilUp(board.name, timeout: 300)
            // Like a real kernel, the board has a new boot id after every boot.
            #expect(try SimulatedBoardHarness.openSSH(board, "cat /proc/sys/kernel/random/boot_id") != bootID)
            let after = try await inspect(SimulatedBoardHarness.rootTarget(board))
            #expect(after.rebootPending == false)
            #expect(after.heaps.first { $0.name == "npu" }?.liveBytes == 0xDBF0_0000)
        }
    }

    @Test func linaroWithAPasswordReadsLiveHeapsThroughSudo() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let target = SSHTarget(host: board.host, port: board.port, user: "linaro", knownHostsFile: board.knownHostsFile,
                                   sshConfigFile: "none")
            let report = try await inspect(target, password: board.linaroPassword)
            #expect(report.warnings.filter { !$0.contains("older than sophgo/LLM-TPU") } == [])
            #expect(report.heaps.first { $0.name == "npu" }?.liveBytes == 0xF6E0_0000)
            #expect(report.heaps.first { $0.name == "npu" }?.liveUsedBytes == 0)
        }
    }

    @Test func withoutASudoPasswordTheLiveHeapsAreAWarningNotAFailure() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            // linaro logs in with the simulator's key, so no password was typed that sudo could reuse.
            let target = SSHTarget(host: board.host, port: board.port, user: "linaro", identityFile: board.identityFile,
                                   knownHostsFile: board.knownHostsFile, sshConfigFile: "none")
            let none = try await inspect(target, password: nil)
            #expect(none.heaps.allSatisfy { $0.liveBytes == nil && $0.liveUsedBytes == nil })
            #expect(none.deviceMemory == nil)
            // Versions come from files any user reads.
            #expect(none.versions.libsophon == "0.4.9" && none.versions.driver == "0.4.9")
            #expect(none.warnings.contains { $0.contains("sudo on the board wants a password") && $0.contains("TPUDEPLOY_PASSWORD") })
            #expect(none.heaps.first { $0.name == "npu" }?.configuredBytes == 0xF6E0_0000)

            let wrong = try await inspect(target, password: "not-the-password")
            #expect(wrong.warnings.contains { $0.contains("refused the password for linaro") })

            let right = try await inspect(target, password: board.linaroPassword)
            #expect(right.heaps.first { $0.name == "npu" }?.liveBytes == 0xF6E0_0000)
        }
    }

    @Test func aWrongPasswordIsRefusedWithAClearError() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let target = SSHTarget(host: board.host, port: board.port, user: "linaro", knownHostsFile: board.knownHostsFile,
                                   sshConfigFile: "none")
            await #expect {
                _ = try await inspect(target, password: "not-the-password")
            } throws: { error in
                guard case SSHError.authenticationFailed(let user, _, let triedPassword, _) = error else { return false }
                return user == "linaro" && triedPassword
            }
            // No password at all, and nobody to ask: say which flag to use.
            await #expect {
                _ = try await inspect(target, password: nil)
            } throws: { error in
                "\(error)".contains("TPUDEPLOY_PASSWORD") && "\(error)".contains("--password-file")
            }
        }
    }

    @Test func anUnknownHostKeyIsRefusedUnlessAccepted() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let knownHosts = harness.stateDirectory.appendingPathComponent("empty_known_hosts").path
            var target = SimulatedBoardHarness.rootTarget(board)
            target.knownHostsFile = knownHosts
            await #expect {
                _ = try await inspect(target)
            } throws: { error in
                guard case SSHError.hostKeyUnknown(_, let fingerprint, _) = error else { return false }
                return fingerprint == board.hostKeyFingerprint && "\(error)".contains("--accept-new-host-key")
            }
            target.acceptNewHostKey = true
            _ = try await inspect(target)
            let recorded = try String(contentsOfFile: knownHosts, encoding: .utf8)
            #expect(recorded.contains(board.host))
            target.acceptNewHostKey = false
            _ = try await inspect(target)
        }
    }

    @Test func aChangedHostKeyIsAlwaysRefused() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let keyFile = harness.stateDirectory.appendingPathComponent("impostor").path
            try SimulatedBoardHarness.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile])
            let impostor = try String(contentsOfFile: keyFile + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
            let knownHosts = harness.stateDirectory.appendingPathComponent("stale_known_hosts").path
            try "\(board.host) \(impostor)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
            var target = SimulatedBoardHarness.rootTarget(board)
            target.knownHostsFile = knownHosts
            target.acceptNewHostKey = true
            await #expect {
                _ = try await inspect(target)
            } throws: { error in
                guard case SSHError.hostKeyChanged(_, let fingerprint, _) = error else { return false }
                return fingerprint == board.hostKeyFingerprint
            }
        }
    }

    @Test func anUnreadableBootLeavesTheConfiguredLayoutUnknownAndSaysWhy() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            try harness.simulator.inject(.unreadableBoot, into: board.name)
            let target = SSHTarget(host: board.host, port: board.port, user: "linaro", knownHostsFile: board.knownHostsFile,
                                   sshConfigFile: "none")
            let report = try await inspect(target, password: board.linaroPassword)
            #expect(report.ddr == nil)
            #expect(report.heaps.allSatisfy { $0.configuredBytes == nil })
            #expect(report.warnings.contains { $0.contains("/boot/emmcboot.itb is not readable by linaro") })
        }
    }
}

@Suite("connecting to boards that do not answer")
struct UnreachableBoardTests {
    @Test func aClosedPortIsRefusedAtOnce() async throws {
        let target = SSHTarget(host: "127.0.0.1", port: SilentListener.unusedPort(), user: "root", sshConfigFile: "none", connectTimeout: 5)
        await #expect {
            _ = try await SSHSession.connect(to: target)
        } throws: { error in
            if case SSHError.cannotResolveOrConnect = error { return true }
            return false
        }
    }

    @Test func aHostThatNeverGreetsTimesOut() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let target = SSHTarget(host: "127.0.0.1", port: listener.port, user: "root", sshConfigFile: "none", connectTimeout: 1)
        await #expect {
            _ = try await SSHSession.connect(to: target)
        } throws: { error in
            guard case SSHError.connectTimedOut(_, let seconds) = error else { return false }
            return seconds == 1
        }
    }
}
