import Testing
@testable import TPUDeployKit

@Suite("distribution plan")
struct DistributionPlanTests {
    let boards = ["evb1", "evb2", "evb3", "evb4", "evb5"]

    @Test func chainsSplitTheBoardsInOrderIntoNearEqualParts() {
        #expect(DistributionPlan.chains(boards, count: 1) == [boards])
        #expect(DistributionPlan.chains(boards, count: 2) == [["evb1", "evb2", "evb3"], ["evb4", "evb5"]])
        // More chains than boards: one board each, never an empty chain.
        #expect(DistributionPlan.chains(["a", "b"], count: 5) == [["a"], ["b"]])
        #expect(DistributionPlan.chains([], count: 3).isEmpty)
    }

    @Test func eachBoardChecksUpToThreeBoardsBeforeItInItsChainNearestFirst() {
        let candidates = DistributionPlan.candidates(boards, chains: 1)
        #expect(candidates["evb1"] == [])
        #expect(candidates["evb2"] == ["evb1"])
        #expect(candidates["evb5"] == ["evb4", "evb3", "evb2"])
        let two = DistributionPlan.candidates(boards, chains: 2)
        #expect(two["evb4"] == [], "evb4 heads the second chain")
        #expect(two["evb5"] == ["evb4"])
    }

    @Test func whenEveryBoardReachesTheOthersTheyFormOnePipelinedChainFedOnceByTheHost() {
        let plan = DistributionPlan.make(boards, chains: 1) { _, _ in true }
        #expect(plan.fedByHost == ["evb1"])
        #expect(plan.fallbacks.isEmpty)
        #expect(plan.nodes.map(\.parent) == [nil, "evb1", "evb2", "evb3", "evb4"])
        // Fallback sources are the board's ancestors, nearest first: a dead parent is skipped, never waited for.
        #expect(plan.node("evb4")?.sources == ["evb3", "evb2", "evb1"])
        #expect(plan.node("evb5")?.sources == ["evb4", "evb3", "evb2"])
    }

    @Test func whenNoBoardReachesAnotherTheHostSendsToEachAndSaysWhy() {
        let plan = DistributionPlan.make(boards, chains: 1) { _, _ in false }
        #expect(plan.fedByHost == boards)
        #expect(plan.fallbacks.map(\.board) == ["evb2", "evb3", "evb4", "evb5"])
        #expect(plan.fallbacks.last?.unreachable == ["evb4", "evb3", "evb2"])
    }

    @Test func aBoardThatCannotReachItsPredecessorPullsFromTheNearestAncestorItReaches() {
        // evb3 is cut off from evb2 only: it hangs below evb1, beside evb2; evb4 still follows evb3.
        let plan = DistributionPlan.make(boards, chains: 1) { board, peer in !(board == "evb3" && peer == "evb2") }
        #expect(plan.node("evb3")?.sources == ["evb1"])
        #expect(plan.node("evb4")?.sources == ["evb3", "evb1"], "evb2 is no ancestor of evb4 any more")
        #expect(plan.fedByHost == ["evb1"])
    }

    @Test func anAncestorTheBoardDoesNotReachIsNoFallbackSource() {
        let plan = DistributionPlan.make(boards, chains: 1) { board, peer in !(board == "evb4" && peer == "evb2") }
        #expect(plan.node("evb4")?.sources == ["evb3", "evb1"])
    }

    @Test func eachChainIsFedByTheHost() {
        let plan = DistributionPlan.make(boards, chains: 2) { _, _ in true }
        #expect(plan.fedByHost == ["evb1", "evb4"])
        #expect(plan.node("evb5")?.sources == ["evb4"])
        #expect(plan.fallbacks.isEmpty, "a chain's head is planned, not a fallback")
    }
}

@Suite("relay agent reports")
struct RelayAgentLineTests {
    @Test func parsesTheAgentsReports() {
        #expect(RelayAgentLine("@@ready 40123 777") == .ready(port: 40123, pid: 777))
        #expect(RelayAgentLine("@@address 198.18.0.11") == .address("198.18.0.11"))
        #expect(RelayAgentLine("@@need 2 1048576") == .need(file: 2, offset: 1_048_576))
        #expect(RelayAgentLine("@@source 0 198.18.0.11:4000 5") == .source(file: 0, peer: "198.18.0.11:4000", offset: 5))
        #expect(RelayAgentLine("@@lost 1 198.18.0.12:4000 99 closed the connection")
            == .lost(file: 1, peer: "198.18.0.12:4000", offset: 99, reason: "closed the connection"))
        #expect(RelayAgentLine("@@reach 198.18.0.12:4000 fail No route to host") == .reach(peer: "198.18.0.12:4000", ok: false, reason: "No route to host"))
        #expect(RelayAgentLine("@@reach 198.18.0.12:4000 ok") == .reach(peer: "198.18.0.12:4000", ok: true, reason: ""))
        #expect(RelayAgentLine("@@failed 0 no_space cannot write /data/x.partial: No space left on device")
            == .failed(file: 0, code: "no_space", message: "cannot write /data/x.partial: No space left on device"))
        #expect(RelayAgentLine("@@refused 198.18.0.1 wrong secret") == .refused(peer: "198.18.0.1", reason: "wrong secret"))
        #expect(RelayAgentLine("@@exit host_closed 123") == .exit(reason: "host_closed", servedBytes: 123))
        #expect(RelayAgentLine("@@done") == .done)
    }

    @Test func aLineThatIsNoReportIsKeptAsItIs() {
        #expect(RelayAgentLine("sh: 1: exec: not found") == .other("sh: 1: exec: not found"))
        #expect(RelayAgentLine("@@need x y") == .other("@@need x y"))
    }
}

@Suite("rollout secret")
struct RolloutSecretTests {
    @Test func isRandomAndNeverShown() {
        let a = RolloutSecret.random(), b = RolloutSecret.random()
        #expect(a != b)
        #expect(a.token.count == 64)
        #expect(!"\(a)".contains(a.token))
        #expect(!String(reflecting: a).contains(a.token))
        var dumped = ""
        dump(a, to: &dumped)
        #expect(!dumped.contains(a.token))
    }

    @Test func refusesTokensTheAgentCouldNotReadAsOneLine() {
        #expect(RolloutSecret(token: "short") == nil)
        #expect(RolloutSecret(token: "has a space in it, so two words") == nil)
        #expect(RolloutSecret(token: String(repeating: "x", count: 256)) == nil)
        #expect(RolloutSecret(token: "0123456789abcdef") != nil)
    }
}
