import Testing
@testable import TPUDeployKit

private let directory = "/data/tpudeploy/backups"

/// A backup record of image `sha` (short names stand for sha256s here) in file `file`.
private func backup(_ sha: String, _ file: String, _ condition: BootImageBackup.Condition = .ok, _ reason: BootImageBackup.Reason? = .fix,
                    by replacedBy: String?, factory: Bool = false) -> BootImageBackup {
    BootImageBackup(stamp: "s-\(file)", sha256: sha, path: "\(directory)/emmcboot-\(file).itb", condition: condition, reason: reason,
                    replacedBy: replacedBy, factory: factory)
}

@Suite struct BackupRetentionTests {
    @Test func oneRecordPerImageAtItsNewestPlaceWithTheFactoryMarked() {
        // F → E, rolled back to F, then F → E again (the F backup reused): two records of F, one file.
        let listed = [backup("F", "1", by: "E"), backup("E", "2", .ok, .rollback, by: "F"), backup("F", "1", by: "E")]
        let plan = BackupRetention(backups: listed, directory: directory)
        #expect(plan.kept.map(\.sha256) == ["E", "F"])
        #expect(plan.kept.map(\.factory) == [false, true])
        #expect(plan.removedFiles.isEmpty)
        #expect(plan.changesAnything)
        #expect(plan.indexLines() == ["s-2 E emmcboot-2.itb rollback F", "s-1 F emmcboot-1.itb fix E factory"])
        // Written back and listed again, nothing more changes.
        let again = BackupRetention(backups: plan.kept, directory: directory)
        #expect(!again.changesAnything)
    }

    @Test func keepsTheFactoryAndTheNewestIntactOnesAndDropsDamagedOnes() {
        let listed = [backup("F", "1", by: "A", factory: true), backup("A", "2", by: "B"), backup("B", "3", by: "C"),
                      backup("C", "4", by: "D"), backup("D", "5", .damaged, by: "E")]
        let plan = BackupRetention(backups: listed, directory: directory, keepingNewest: 2)
        #expect(plan.kept.map(\.sha256) == ["F", "B", "C"])
        #expect(Set(plan.removedFiles) == Set(["2", "5"].flatMap { ["\(directory)/emmcboot-\($0).itb", "\(directory)/multi-\($0).its"] }))
        // The chain stays whole over what was dropped: F was replaced by A, which is gone, so F now leads to B;
        // C's successor D is gone too, so C leads to E, the live image.
        #expect(plan.kept.map(\.replacedBy) == ["B", "C", "E"])
        #expect(RollbackChoice.undoing(plan.kept, currentSHA256: "E").map(\.sha256) == ["C", "B", "F"])
    }

    @Test func identicalCopiesFromOlderVersionsBecomeOne() {
        let listed = [backup("F", "1", by: "E"), backup("F", "2", by: "E"), backup("F", "3", .damaged, by: "E")]
        let plan = BackupRetention(backups: listed, directory: directory)
        #expect(plan.kept.count == 1)
        #expect(plan.kept.first?.path == "\(directory)/emmcboot-2.itb")
        #expect(plan.kept.first?.condition == .ok)
        #expect(plan.removedFiles.contains("\(directory)/emmcboot-1.itb") && plan.removedFiles.contains("\(directory)/emmcboot-3.itb"))
        #expect(!plan.removedFiles.contains("\(directory)/emmcboot-2.itb"))
    }

    @Test func neverRemovesAFileOutsideTheBackupDirectory() {
        var odd = backup("X", "1", by: "F")
        odd.path = "/boot/emmcboot.itb"
        let plan = BackupRetention(backups: [backup("F", "0", by: "X"), backup("A", "1", by: "B"), odd, backup("B", "2", by: "C")],
                                   directory: directory, keepingNewest: 1)
        #expect(!plan.removedFiles.contains("/boot/emmcboot.itb"))
    }
}

@Suite struct RollbackChoiceTests {
    @Test func undoingSkipsWhatARollbackBackedUp() {
        let listed = [backup("F", "1", by: "E", factory: true), backup("E", "2", .ok, .rollback, by: "F")]
        #expect(RollbackChoice.undoing(listed, currentSHA256: "E").map(\.sha256) == ["F"])
        #expect(RollbackChoice.undoing(listed, currentSHA256: "F").isEmpty)
    }

    @Test func aDamagedImageGetsBackTheImageLiveBeforeTheDamage() {
        // F → E, rolled back to F; then /boot was damaged: F (what the last run installed) comes first.
        let rolledBack = [backup("F", "1", by: "E", factory: true), backup("E", "2", .ok, .rollback, by: "F")]
        #expect(RollbackChoice.restoring(rolledBack, currentSHA256: "garbage").map(\.sha256) == ["F", "E"])
        // F → A → B, B damaged: no backup of B exists, so the newest backup (A), then F.
        let fixed = [backup("F", "1", by: "A", factory: true), backup("A", "2", by: "B")]
        #expect(RollbackChoice.restoring(fixed, currentSHA256: "garbage").map(\.sha256) == ["A", "F"])
    }

    @Test func oldIndexEntriesFallBackToTheNewestDifferentImage() {
        let listed = [backup("F", "1", .ok, nil, by: nil), backup("G", "2", .ok, nil, by: nil)]
        #expect(RollbackChoice.undoing(listed, currentSHA256: "H").map(\.sha256) == ["G"])
    }
}
