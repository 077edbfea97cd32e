import Foundation
import Testing
@testable import TPUDeployKit

@Suite("fleet outcomes, summaries and the inventory sim up writes")
struct FleetReportTests {
    static func result(_ name: String, _ outcome: FleetBoardOutcome) -> FleetBoardResult {
        FleetBoardResult(name: name, host: "192.0.2.1", outcome: outcome, phase: outcome == .ok ? .done : .connect,
                         error: outcome == .ok ? nil : FleetBoardError(code: "x", message: "m"), seconds: 1, facts: nil)
    }

    @Test func errorsBecomeTheBoardsOutcomeWithAStableCode() {
        let cases: [(SSHError, FleetBoardOutcome, String)] = [
            (.cannotResolveOrConnect(target: "t", reason: "refused"), .unreachable, "unreachable"),
            (.connectTimedOut(target: "t", seconds: 3), .unreachable, "connect_timeout"),
            (.connectionLost(target: "t", reason: "eof"), .unreachable, "connection_lost"),
            (.hostKeyChanged(target: "t", fingerprint: "f", knownHostsFile: "k"), .failed, "host_key_changed"),
            (.hostKeyOfOtherType(target: "t", fingerprint: "f", knownHostsFile: "k"), .failed, "host_key_changed"),
            (.hostKeyUnknown(target: "t", fingerprint: "f", knownHostsFile: "k"), .failed, "host_key_unknown"),
            (.authenticationFailed(user: "u", target: "t", triedPassword: true, triedKeys: true), .failed, "auth_failed"),
            (.passwordNeeded(user: "u", target: "t"), .failed, "password_needed"),
            (.identityUnreadable(file: "f", reason: "r"), .failed, "ssh_setup"),
            (.commandTimedOut(target: "t", command: "c", seconds: 60), .failed, "command_timeout"),
        ]
        for (error, outcome, code) in cases {
            let (classified, info) = FleetBoardError.classify(error)
            #expect(classified == outcome)
            #expect(info.code == code)
            #expect(info.message == error.description)
        }
        #expect(FleetBoardError.classify(ParseErrorStandIn()).1.code == "inspect_failed")
    }

    @Test func exitCodesFollowTheIssue() {
        func summary(_ outcomes: [FleetBoardOutcome]) -> FleetSummary {
            FleetSummary(run: "r", command: "inspect", boards: outcomes.enumerated().map { Self.result("b\($0.offset)", $0.element) }, seconds: 1)
        }
        #expect(summary([.ok, .skipped]).exitCode == 0)
        #expect(summary([.ok, .skipped]).outcome == "ok")
        #expect(summary([.ok, .unreachable]).exitCode == 3)
        #expect(summary([.ok, .unreachable]).outcome == "failed")
        #expect(summary([.unreachable, .failed, .ok]).exitCode == 2)
        #expect(summary([.notBack]).exitCode == 2)
        #expect(summary([.ok, .unreachable, .unreachable]).counts == ["ok": 1, "unreachable": 2])
    }

    @Test func jsonLinesAreOneLineEachInTheProjectsKeyStyle() throws {
        let summary = FleetSummary(run: "inspect-1", command: "inspect", boards: [Self.result("evb1", .unreachable)], seconds: 2.5)
        let line = try FleetJSONLines.line(summary)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["schema"] as? String == "tpudeploy.fleet-summary/1")
        let board = try #require((object["boards"] as? [[String: Any]])?.first)
        #expect(board["outcome"] as? String == "unreachable")
        #expect((board["error"] as? [String: Any])?["code"] as? String == "x")
        #expect(FleetJSONLines.runID(command: "inspect", at: Date(timeIntervalSince1970: 0)).hasPrefix("inspect-19700101T000000Z-"))
    }

    @Test func theInspectTableShowsFailuresWithTheirCode() {
        let text = FleetText.inspection(FleetSummary(run: "r", command: "inspect", boards: [Self.result("evb9", .unreachable)], seconds: 1))
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("BOARD"))
        #expect(lines[1].hasPrefix("evb9") && lines[1].contains("unreachable") && lines[1].hasSuffix("x: m"))
        #expect(lines[2].hasPrefix("1 boards: 1 unreachable"))
    }

    @Test func theWrittenInventoryReadsBackUnchanged() throws {
        let text = INIInventoryWriter.text(group: "sim", hosts: [
            .init(name: "evb1", variables: [("ansible_host", "198.18.0.11"), ("ansible_port", "22"), ("tpudeploy_board", "1684x_evb")]),
            .init(name: "evb2", variables: [("ansible_host", "198.18.0.12"), ("note", "it's a # test")]),
        ], comment: "Written by a test.\nSecond line.")
        #expect(text.hasPrefix("# Written by a test.\n# Second line.\n[sim]\n"))
        let inventory = try InventoryLoader.parse(text, file: "sim.ini")
        #expect(inventory.hosts(in: "sim") == ["evb1", "evb2"])
        #expect(inventory.ownVariables(of: "evb1") == ["ansible_host": .string("198.18.0.11"), "ansible_port": .int(22), "tpudeploy_board": .string("1684x_evb")])
        #expect(inventory.ownVariables(of: "evb2")["note"] == .string("it's a # test"))
    }
}

private struct ParseErrorStandIn: Error {}
