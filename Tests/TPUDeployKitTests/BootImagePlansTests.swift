import Foundation
import Testing
@testable import TPUDeployKit

/// A rollout plans each distinct boot image once: boards with the same image (by sha256) and the same request
/// share one plan and one rewritten image; a board whose image or request differs gets its own.
@Suite("boot-image plans shared by a fleet")
struct BootImagePlansTests {
    final class Count: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func add() { lock.withLock { value += 1 } }
        var total: Int { lock.withLock { value } }
    }

    struct Failure: Error {}

    static let rollout = LayoutSizing.explicit(HeapSizes(npu: .mebibytes(6144), vpu: .mebibytes(1024), vpp: .mebibytes(2048)))

    @Test func aFleetWithTwoDistinctImagesComputesTwoPlans() async throws {
        // Two images for the same EVB dtb: the fixture's factory image, and the same after another layout was
        // written to it (as on a board that went through an earlier fix-memory).
        let factory = try BootImageFixture.bytes(BootImageFixture.fit16GB)
        let earlier = LayoutSizing.explicit(HeapSizes(npu: .mebibytes(7168), vpu: .mebibytes(1024), vpp: .mebibytes(2048)))
        let changed = try #require(try BootImageEdit(image: factory, dtb: BootImageFixture.evb, sizing: earlier, minimumLinuxMiB: 2048).editedImage)
        #expect(sha256Hex(changed) != sha256Hex(factory))
        // Eight boards: six with the factory image, two with the changed one.
        let fleet: [(String, [UInt8])] = (1...8).map { ("evb\($0)", $0 <= 6 ? factory : changed) }

        let plans = BootImagePlans()
        let computed = Count()
        let results = try await withThrowingTaskGroup(of: (String, BootImagePlans.Plan).self) { group in
            for (name, image) in fleet {
                group.addTask {
                    let key = BootImagePlans.Key(imageSHA256: sha256Hex(image), dtb: BootImageFixture.evb, boardProfile: "1684x_evb",
                                                 sizing: Self.rollout, minimumLinuxMiB: 2048)
                    let plan = try await plans.plan(for: key) {
                        computed.add()
                        return BootImagePlans.Plan(edit: try BootImageEdit(image: image, dtb: BootImageFixture.evb, sizing: Self.rollout, minimumLinuxMiB: 2048))
                    }
                    return (name, plan)
                }
            }
            return try await group.reduce(into: [String: BootImagePlans.Plan]()) { $0[$1.0] = $1.1 }
        }
        #expect(computed.total == 2)
        #expect(plans.plansComputed == 2)

        // Each board got the plan of its own image: the image a board would install is the one planned on its
        // bytes alone, and its sha256 is the one the install script checks.
        for (name, image) in fleet {
            let own = try BootImageEdit(image: image, dtb: BootImageFixture.evb, sizing: Self.rollout, minimumLinuxMiB: 2048)
            let shared = try #require(results[name])
            #expect(shared.edit.editedImage == own.editedImage, "\(name)")
            #expect(shared.edit.plan == own.plan, "\(name)")
            #expect(shared.newImageSHA256 == own.editedImage.map(sha256Hex), "\(name)")
        }
        // The two plans start from different layouts (to the same one: the new images may well be equal).
        #expect(results["evb1"]?.edit.plan.before != results["evb7"]?.edit.plan.before)

        // Another model (another sizing) or another board profile on the same image is another plan.
        let other = LayoutSizing.explicit(HeapSizes(npu: .mebibytes(5120), vpu: .mebibytes(1024), vpp: .mebibytes(2048)))
        for (sizing, profile) in [(other, "1684x_evb"), (Self.rollout, "another_profile")] {
            let key = BootImagePlans.Key(imageSHA256: sha256Hex(factory), dtb: BootImageFixture.evb, boardProfile: profile, sizing: sizing, minimumLinuxMiB: 2048)
            _ = try await plans.plan(for: key) {
                computed.add()
                return BootImagePlans.Plan(edit: try BootImageEdit(image: factory, dtb: BootImageFixture.evb, sizing: sizing, minimumLinuxMiB: 2048))
            }
        }
        #expect(plans.plansComputed == 4)
    }

    @Test func aComputationThatFailedIsNotSharedTheNextBoardComputesItsOwn() async throws {
        let factory = try BootImageFixture.bytes(BootImageFixture.fit16GB)
        let key = BootImagePlans.Key(imageSHA256: sha256Hex(factory), dtb: BootImageFixture.evb, boardProfile: "1684x_evb",
                                     sizing: Self.rollout, minimumLinuxMiB: 2048)
        let plans = BootImagePlans()
        await #expect(throws: Failure.self) { try await plans.plan(for: key) { throw Failure() } }
        let plan = try await plans.plan(for: key) {
            BootImagePlans.Plan(edit: try BootImageEdit(image: factory, dtb: BootImageFixture.evb, sizing: Self.rollout, minimumLinuxMiB: 2048))
        }
        #expect(plan.newImageSHA256 != nil)
        #expect(plans.plansComputed == 2)
    }
}
