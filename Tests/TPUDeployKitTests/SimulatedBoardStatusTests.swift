import Foundation
import Testing
import TPUDeployKit
@testable import TPUDeploySimulator

/// `sim list --json`: a board's power state is a word, and a bricked board's reason a key of its own.
@Suite struct SimulatedBoardStatusTests {
    let board = SimulatedBoard(name: "evb1", host: "10.0.0.2", identityFile: "/s/id", knownHostsFile: "/s/kh", linaroPassword: "linaro",
                               hostKeyFingerprint: "SHA256:x", stateDirectory: "/s/boards/evb1", ram: .gb16, dtbName: "bm1684x_evb_v0.0")

    private func object(_ status: SimulatedBoardStatus) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(JSONOutput.text(status).utf8)) as? [String: Any])
    }

    @Test func theStateIsAWordAndABrickedBoardSaysWhy() throws {
        let bricked = try object(SimulatedBoardStatus(board: board, state: .bricked("bad sha256 hash in fdt-1")))
        #expect(bricked["state"] as? String == "bricked")
        #expect(bricked["reason"] as? String == "bad sha256 hash in fdt-1")
        #expect((bricked["board"] as? [String: Any])?["state_directory"] as? String == "/s/boards/evb1")
        let up = try object(SimulatedBoardStatus(board: board, state: .up))
        #expect(up["state"] as? String == "up")
        #expect(up["reason"] == nil)
        #expect(!(try JSONOutput.text(SimulatedBoardStatus(board: board, state: .down))).contains("_0"))
        for state in [BoardPowerState.booting, .up, .down, .bricked("r")] {
            let decoded = try JSONOutput.decoder().decode(SimulatedBoardStatus.self, from: Data(JSONOutput.text(SimulatedBoardStatus(board: board, state: state)).utf8))
            #expect(decoded.state == state)
        }
    }
}
