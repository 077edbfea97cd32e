import Foundation
import Testing
@testable import TPUDeployKit

/// The live view of `fleet rollout` on a terminal, as frames computed from a sequence of events.
@Suite("rollout live view")
struct RolloutLiveViewTests {
    static func event(_ board: String, _ phase: FleetPhase, _ status: String, error: FleetBoardError? = nil, detail: String? = nil,
                      done: UInt64? = nil, total: UInt64? = nil) -> FleetEvent {
        FleetEvent(run: "rollout-x", time: "t", board: board, host: "10.0.0.\(board.last!)", phase: phase, status: status, error: error,
                   detail: detail, bytesDone: done, bytesTotal: total)
    }

    static let mib: UInt64 = 1 << 20

    @Test func framesFollowTheBoardsPhasesProgressAndRatesWithFailuresAbove() {
        var view = RolloutLiveView(boardCount: 3, width: 120)
        let steps: [(Double, FleetEvent)] = [
            (0.0, Self.event("evb1", .connect, "started")),
            (0.1, Self.event("se71", .connect, "started")),
            (0.2, Self.event("evb1", .inspect, "started")),
            (0.4, Self.event("evb1", .inspect, "done", detail: "llama2-sim cannot load")),
            (0.5, Self.event("evb1", .fixMemory, "started", detail: "npu 4866 MiB, vpu 1024 MiB, vpp 2048 MiB")),
            (0.6, Self.event("se71", .push, "started")),
            (1.0, Self.event("se71", .push, "progress", done: 10 * Self.mib, total: 100 * Self.mib)),
            (3.0, Self.event("se71", .push, "progress", done: 50 * Self.mib, total: 100 * Self.mib)),
        ]
        for (seconds, event) in steps { view.apply(event, at: seconds) }
        let first = view.frame(at: 3.0)
        #expect(first.above == [])
        #expect(first.live == [
            "evb1  fix_memory  2 s  npu 4866 MiB, vpu 1024 MiB, vpp 2048 MiB",
            "se71  push        2 s  50 MiB of 100 MiB (50%) at 20 MiB/s",
            "0/3 boards done; 2 in flight; 3 s",
        ])
        // No event since: the same lines, the times moved on.
        #expect(view.frame(at: 4.2).live[0] == "evb1  fix_memory  3 s  npu 4866 MiB, vpu 1024 MiB, vpp 2048 MiB")

        // evb1 is refused for fit: said above once, gone from the live lines; a third board starts; se71 ends ok.
        view.apply(Self.event("evb1", .fixMemory, "failed", error: FleetBoardError(code: "no_layout_fits", message: "nothing was changed")), at: 5)
        #expect(view.frame(at: 5).above == ["evb1 (10.0.0.1): failed in fix_memory: no_layout_fits: nothing was changed [1/3]"])
        view.apply(Self.event("sm7m3", .reboot, "started"), at: 5.5)
        view.apply(Self.event("sm7m3", .reboot, "progress", detail: "waiting for a new boot id (12/300 s)"), at: 7.5)
        view.apply(Self.event("se71", .push, "done", detail: "sent 3 of 3 files"), at: 6)
        // Between two phases a board waits (for a slot, for its batch's relay): it says so, and since when.
        #expect(view.frame(at: 8).live == [
            "se71   waiting  2 s  push done",
            "sm7m3  reboot   2 s  waiting for a new boot id (12/300 s)",
            "1/3 boards done: 1 failed; 2 in flight; 8 s",
        ])
        view.apply(Self.event("se71", .done, "ok"), at: 62)
        let second = view.frame(at: 62)
        #expect(second.above == [])
        #expect(second.live == [
            "sm7m3  reboot  56 s  waiting for a new boot id (12/300 s)",
            "2/3 boards done: 1 ok, 1 failed; 1 in flight; 1 m 02 s",
        ])
        // Said once: the next frame has nothing above.
        #expect(view.frame(at: 63).above == [])

        // A distribution that failed is said above, and the board goes on.
        view.apply(Self.event("sm7m3", .distribute, "failed", error: FleetBoardError(code: "agent_exited", message: "the relay agent ended"),
                              detail: "its push sends it the files"), at: 64)
        let third = view.frame(at: 64)
        #expect(third.above == ["sm7m3 (10.0.0.3): distribute failed: agent_exited: the relay agent ended; its push sends it the files"])
        // Lines above are never cut to the width (they are not redrawn, so wrapping does no harm).
        view.width = 30
        view.apply(Self.event("sm7m3", .reboot, "not_back", error: FleetBoardError(code: "board_not_back", message: "backups in /data/tpudeploy/backups")), at: 65)
        let fourth = view.frame(at: 65)
        #expect(fourth.above == ["sm7m3 (10.0.0.3): not_back in reboot: board_not_back: backups in /data/tpudeploy/backups [3/3]"])
        #expect(fourth.live == ["3/3 boards done: 1 ok, 1 fail…"])
        #expect(third.live.last == "2/3 boards done: 1 ok, 1 failed; 1 in flight; 1 m 04 s")
    }

    @Test func linesFitTheTerminalAndManyBoardsAreCounted() {
        var view = RolloutLiveView(boardCount: 50, width: 40, maxBoardLines: 3)
        for index in 1...5 { view.apply(Self.event("b\(index)", .launch, "progress", detail: "loading the model (\(index) s) and a long tail of words"), at: 1) }
        let frame = view.frame(at: 2)
        #expect(frame.live.count == 4)
        #expect(frame.live.allSatisfy { $0.count <= 40 })
        #expect(frame.live[0] == "b1  launch  1 s  loading the model (1 s…")
        #expect(frame.live[2] == "… and 3 more boards in flight")
        #expect(frame.live[3] == "0/50 boards done; 5 in flight; 2 s")
    }

    @Test func theTerminalTextRedrawsTheLiveLinesInPlace() {
        let frame = RolloutLiveView.Frame(above: ["b1 (h): failed in push: x: y [1/2]"], live: ["b2  push  1 s", "1/2 boards done"])
        #expect(frame.terminalText(previousLive: 0) == "b1 (h): failed in push: x: y [1/2]\nb2  push  1 s\n1/2 boards done\n")
        // Up to the first of the 3 lines drawn before, cleared to the end of the screen, then the new frame.
        #expect(frame.terminalText(previousLive: 3) == "\u{1B}[3F\u{1B}[J" + "b1 (h): failed in push: x: y [1/2]\nb2  push  1 s\n1/2 boards done\n")
    }
}
