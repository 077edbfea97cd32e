import Foundation
import Testing
@testable import TPUDeployKit

private let mib: UInt64 = 1 << 20
private let profiles = ProfileStore(directory: URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Profiles"))

/// A board whose /boot holds a layout it has not rebooted into: push and inspect --model judge both.
@Suite struct PendingLayoutTests {
    /// What `fix-memory --for-model chatglm2-6b` leaves live, and the EVB's factory layout in /boot (a rollback
    /// without a reboot).
    let large = DeviceHeaps(npu: 7168 * mib, vpp: 2048 * mib, vpu: 1024 * mib)
    let small = DeviceHeaps(npu: 3950 * mib, vpp: nil, vpu: 2048 * mib)
    let needs = ModelNeeds(name: "chatglm2-6b", fixMemoryArgument: "chatglm2-6b", chip: "BM1684X", totalBytes: 6453 * mib)

    private func board(live: DeviceHeaps, configured: DeviceHeaps?) -> BoardFacts {
        BoardFacts(target: "root@b", arch: "aarch64", chip: "BM1684X", boardProfile: "1684x_evb", liveHeaps: live,
                   configuredHeaps: configured, freeBytes: 100 << 30, remoteDir: "/data/x")
    }

    @Test func aModelThatStopsLoadingAtTheNextRebootIsRefusedNamingBothLayouts() throws {
        #expect(throws: PushError.self) { try PushPreflight.check(board: board(live: large, configured: small), model: needs, bytesNeeded: 1) }
        do {
            _ = try PushPreflight.check(board: board(live: large, configured: small), model: needs, bytesNeeded: 1)
        } catch let error as PushError {
            let text = "\(error)"
            #expect(text.contains("live NPU 7168 MiB, VPP 2048 MiB, VPU 1024 MiB; after the next reboot (/boot) NPU 3950 MiB, no VPP heap, VPU 2048 MiB"))
            #expect(text.contains("`tpudeploy fix-memory --npu 7168 --vpu 1024 --vpp 2048 --no-reboot`"))
            #expect(text.contains("--allow-pending-reboot"))
            #expect(text.contains("Nothing was sent"))
        }
        let warnings = try PushPreflight.check(board: board(live: large, configured: small), model: needs, bytesNeeded: 1, allowPendingReboot: true)
        #expect(warnings.count == 1)
        #expect(warnings.first?.hasPrefix("chatglm2-6b loads now but not after the next reboot") == true)
    }

    @Test func aModelThatLoadsOnlyAfterTheRebootSaysRebootThenPush() throws {
        do {
            _ = try PushPreflight.check(board: board(live: small, configured: large), model: needs, bytesNeeded: 1)
            Issue.record("pushed a model the live heaps cannot hold")
        } catch let error as PushError {
            guard case .loadsOnlyAfterReboot = error else {
                Issue.record("wrong refusal: \(error)")
                return
            }
            let text = "\(error)"
            #expect(text.contains("live NPU 3950 MiB, no VPP heap, VPU 2048 MiB; after the next reboot (/boot) NPU 7168 MiB"))
            #expect(text.contains("First reboot the board") && text.contains("then push again"))
        }
        let warnings = try PushPreflight.check(board: board(live: small, configured: large), model: needs, bytesNeeded: 1, allowPendingReboot: true)
        #expect(warnings.first?.contains("before `tpudeploy launch`") == true)
    }

    @Test func aModelThatFitsNeitherGetsFixMemoryAndOneThatFitsBothOnlyAWarning() throws {
        let tiny = DeviceHeaps(npu: 2048 * mib, vpp: nil, vpu: nil)
        #expect(throws: PushError.modelCannotLoad(
            model: "chatglm2-6b", reason: HeapFit(need: nil, totalBytes: needs.totalBytes, heaps: tiny).refusalReason,
            fixCommand: "tpudeploy fix-memory --board 1684x_evb --for-model chatglm2-6b")) {
            try PushPreflight.check(board: board(live: tiny, configured: small), model: needs, bytesNeeded: 1)
        }
        let larger = DeviceHeaps(npu: 7600 * mib, vpp: 2048 * mib, vpu: 1024 * mib)
        let warnings = try PushPreflight.check(board: board(live: large, configured: larger), model: needs, bytesNeeded: 1)
        #expect(warnings == ["/boot holds a layout the board has not rebooted into (live NPU 7168 MiB, VPP 2048 MiB, VPU 1024 MiB; after the next reboot (/boot) NPU 7600 MiB, VPP 2048 MiB, VPU 1024 MiB); chatglm2-6b loads on both"])
        #expect(try PushPreflight.check(board: board(live: large, configured: large), model: needs, bytesNeeded: 1).isEmpty)
    }

    @Test func inspectSaysAModelFitsOnlyUntilTheReboot() throws {
        let model = try profiles.model(named: "chatglm2-6b")
        let diagnosis = MemoryDiagnosis(model: model, live: large, configured: small, capacity: nil, boardProfile: "1684x_evb")
        #expect(diagnosis.verdict == .fitsUntilReboot)
        #expect(diagnosis.message.contains("after the next reboot (/boot) NPU 3950 MiB, no VPP heap, VPU 2048 MiB"))
        #expect(diagnosis.fixCommand == "tpudeploy fix-memory --npu 7168 --vpu 1024 --vpp 2048 --no-reboot")
        // Given a bmodel's allocations: one of 4608 MiB fits the live NPU heap but none of the heaps /boot holds,
        // though the total (5 GiB) would fit the three together.
        let file = ModelNeeds(name: "m.bmodel", fixMemoryArgument: "m.bmodel", chip: "BM1684X", totalBytes: 5120 * mib,
                              memory: ModelMemoryNeed(allocations: [.init(purpose: .neuron, bytes: 4608 * mib), .init(purpose: .weights, bytes: 512 * mib)],
                                                      engineLayoutKnown: true))
        let wide = DeviceHeaps(npu: 3950 * mib, vpp: 3072 * mib, vpu: 2047 * mib)
        let byFile = MemoryDiagnosis(model: file, live: large, configured: wide, capacity: nil, boardProfile: "1684x_evb")
        #expect(byFile.verdict == .fitsUntilReboot, "\(byFile.message)")
        #expect(byFile.message.contains("one allocation of 4608 MiB"), "\(byFile.message)")
        #expect(MemoryDiagnosis(model: ModelNeeds(name: "p", fixMemoryArgument: "p", chip: "BM1684X", totalBytes: 5120 * mib),
                                live: large, configured: wide, capacity: nil, boardProfile: nil).verdict == .fits)
        let later = MemoryDiagnosis(model: model, live: small, configured: large, capacity: nil, boardProfile: "1684x_evb")
        #expect(later.verdict == .rebootPending)
        #expect(later.message.contains("NPU 3950 MiB, no VPP heap, VPU 2048 MiB live; NPU 7168 MiB, VPP 2048 MiB, VPU 1024 MiB after the next reboot"))
    }
}
