import Testing
@testable import TPUDeployKit

@Suite("rollout plans")
struct RolloutPlanTests {
    static func boards(_ count: Int) -> [FleetBoard] {
        (1...count).map { FleetBoard(name: String(format: "evb%02d", $0), target: SSHTarget(host: "192.0.2.\($0)")) }
    }

    static func sizes(_ count: Int, canary: Int = 1, batch: String? = nil) throws -> [Int] {
        let settings = RolloutSettings(canary: canary, batches: try batch.map(RolloutBatchSize.list(parsing:)) ?? [])
        return try RolloutPlan(boards: boards(count), settings: settings).batches.map(\.boards.count)
    }

    @Test(arguments: [
        (10, 1, nil as String?, [1, 9]),                    // canary, then the rest at once
        (10, 0, nil, [10]),
        (10, 1, "3", [1, 3, 3, 3]),                         // the last batch is what is left, never empty
        (20, 1, "1,5,20%", [1, 1, 5, 4, 4, 4, 1]),          // 20% of 20 boards = 4, repeating
        (10, 2, "25%", [2, 2, 2, 2, 2]),                    // 25% of 10 rounds down to 2
        (3, 1, "10%", [1, 1, 1]),                           // a share below one board is one board
        (1, 1, "5", [1]),
        (2, 5, nil, [2]),                                   // a canary larger than the fleet takes it all
        (7, 1, "100%", [1, 6]),
    ])
    func batchesFollowAnsibleSerial(count: Int, canary: Int, batch: String?, expected: [Int]) throws {
        #expect(try Self.sizes(count, canary: canary, batch: batch) == expected)
    }

    @Test func boardsKeepTheirOrderAndEveryBoardIsInExactlyOneBatch() throws {
        let boards = Self.boards(13)
        let plan = try RolloutPlan(boards: boards, settings: RolloutSettings(canary: 1, batches: [.boards(2), .percent(50)], parallel: 4))
        #expect(plan.batches.flatMap(\.boards) == boards)
        #expect(plan.batches.map(\.isCanary) == [true, false, false, false])
        #expect(plan.batches.map(\.number) == [0, 1, 2, 3])
        #expect(plan.batches.map(\.size) == [nil, .boards(2), .percent(50), .percent(50)])
        #expect(plan.batches.map(\.boards.count) == [1, 2, 6, 4])
        #expect(plan.parallel == 4)
    }

    @Test func batchSpecsAreParsedOrRefused() throws {
        #expect(try RolloutBatchSize.list(parsing: "1, 5,20%") == [.boards(1), .boards(5), .percent(20)])
        for bad in ["0", "-1", "0%", "101%", "five", "1,,2", "", "2.5"] {
            let error = try #require(throws: InventoryError.self) { try RolloutBatchSize.list(parsing: bad) }
            #expect(error.key == "--batch")
        }
        #expect(throws: InventoryError.self) { try RolloutPlan(boards: Self.boards(2), settings: RolloutSettings(canary: -1)) }
        #expect(throws: InventoryError.self) { try RolloutPlan(boards: Self.boards(2), settings: RolloutSettings(parallel: 0)) }
    }

    @Test func theFailureBudgetMustBeExceeded() throws {
        let budget = FailureBudget(percent: 20, boards: 10)
        #expect(budget.allowedFailures == 2)
        #expect(budget.allowsNewBoards(afterFailures: 2))
        #expect(!budget.allowsNewBoards(afterFailures: 3))
        let none = FailureBudget(percent: 0, boards: 1000)
        #expect(none.allowsNewBoards(afterFailures: 0))
        #expect(!none.allowsNewBoards(afterFailures: 1))
        #expect(FailureBudget(percent: 12.5, boards: 7).allowedFailures == 0)
        #expect(FailureBudget(percent: 100, boards: 7).allowsNewBoards(afterFailures: 7))
        #expect(try FailureBudget.percent(parsing: "10%") == 10)
        #expect(try FailureBudget.percent(parsing: "2.5") == 2.5)
        for bad in ["-1", "101", "ten", "nan"] {
            #expect(throws: InventoryError.self) { try FailureBudget.percent(parsing: bad) }
        }
        let plan = try RolloutPlan(boards: Self.boards(50), settings: RolloutSettings(maxFailPercent: 10))
        #expect(plan.failureBudget?.allowedFailures == 5)
    }

    @Test func thePlanTableNamesEveryBoardsTarget() throws {
        var boards = Self.boards(3)
        boards[0].boardProfile = "se7"
        boards[0].deployment = "chatglm2"
        let text = FleetText.plan(try RolloutPlan(boards: boards, settings: RolloutSettings(batches: [.boards(1)], maxFailPercent: 50)))
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[1].hasPrefix("canary") && lines[1].contains("evb01") && lines[1].contains("se7") && lines[1].contains("chatglm2"))
        #expect(lines[2].hasPrefix("batch 1 (1)") && lines[2].contains("evb02") && lines[2].contains("(from its dtb)"))
        #expect(lines[3].hasPrefix("batch 2 (1)") && lines[3].contains("evb03"))
        #expect(lines[4] == "3 boards in 3 steps (a canary, then 2 batches), 16 at once, at most 1 failed board (--max-fail 50%)")
    }
}
