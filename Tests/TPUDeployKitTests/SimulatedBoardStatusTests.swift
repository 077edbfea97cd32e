import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

/// `sim list --json`: a board's state is a word, and a bricked board's reason a key of its own.
struct SimulatedBoardStatusTests {
    /// A board as `sim up --json` prints it.
    private static let boardJSON = """
        {"name": "evb1", "host": "198.18.0.11", "port": 22, "identity_file": "/s/client/id_ed25519",
         "known_hosts_file": "/s/known_hosts", "linaro_password": "linaro", "host_key_fingerprint": "SHA256:abc",
         "state_directory": "/s/boards/evb1", "ram": "16g", "dtb_name": "bm1684x_evb_v0.0"}
        """
    private let board: SimulatedBoard

    init() throws {
        board = try JSONOutput.decoder().decode(SimulatedBoard.self, from: Data(Self.boardJSON.utf8))
    }

    private func object(_ state: BoardPowerState) throws -> [String: Any] {
        let data = try JSONOutput.encoder().encode(SimulatedBoardStatus(board: board, state: state))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func aBrickedBoardShowsItsStateAndReason() throws {
        let json = try object(.bricked("bad sha256 hash in kernel-1"))
        #expect(json["state"] as? String == "bricked")
        #expect(json["reason"] as? String == "bad sha256 hash in kernel-1")
        #expect((json["board"] as? [String: Any])?["name"] as? String == "evb1")
        #expect(!String(decoding: try JSONOutput.encoder().encode(SimulatedBoardStatus(board: board, state: .bricked("x"))), as: UTF8.self).contains("_0"))
    }

    @Test func otherStatesAreOneWordWithoutAReason() throws {
        for (state, word) in [(BoardPowerState.up, "up"), (.booting, "booting"), (.down, "down")] {
            let json = try object(state)
            #expect(json["state"] as? String == word)
            #expect(json["reason"] == nil)
        }
    }

    @Test func theJSONReadsBackAsTheSameStatus() throws {
        for state in [BoardPowerState.up, .booting, .down, .bricked("no dtb named bm1684x_evb_v0.0")] {
            let status = SimulatedBoardStatus(board: board, state: state)
            let decoded = try JSONOutput.decoder().decode(SimulatedBoardStatus.self, from: JSONOutput.encoder().encode(status))
            #expect(decoded == status)
        }
        let unknown = Data(#"{"board": \#(Self.boardJSON), "state": "asleep"}"#.utf8)
        #expect(throws: Never.self) {
            try JSONOutput.decoder().decode(SimulatedBoardStatus.self, from: Data(#"{"board": \#(Self.boardJSON), "state": "up"}"#.utf8))
        }
        #expect(throws: DecodingError.self) { try JSONOutput.decoder().decode(SimulatedBoardStatus.self, from: unknown) }
    }
}
