/// Where tpudeploy keeps a board's boot files while replacing them, and the shell scripts that replace them.
///
/// The scripts run as root on the board in one round trip each. They never leave a half-written image under
/// the name U-Boot loads: the new image is staged beside the old one in /boot (the same file system, so the
/// final `mv` is an atomic rename), checked by sha256, and only then renamed into place after the old one is
/// backed up twice — in /boot and under /data — and both backups are checked.
public struct BootFileLayout: Sendable, Equatable {
    public var bootDirectory: String
    public var backupDirectory: String

    public init(bootDirectory: String = "/boot", backupDirectory: String = "/data/tpudeploy/backups") {
        self.bootDirectory = bootDirectory
        self.backupDirectory = backupDirectory
    }

    public var image: String { bootDirectory + "/emmcboot.itb" }
    public var its: String { bootDirectory + "/multi.its" }
    /// The staged new image: hidden, beside the live one.
    public var stagedImage: String { bootDirectory + "/.emmcboot.itb.tpudeploy-new" }
    /// The newest backup kept on /boot itself (the vendor tool keeps `emmcboot.itb.memeditBak` the same way).
    public var bootBackup: String { image + ".tpudeploy-bak" }
    /// One line per backup: `STAMP SHA256 FILE REASON REPLACED_BY_SHA256 [factory]` (REASON: fix or rollback;
    /// `factory` marks the first image tpudeploy ever replaced), oldest first. `BackupRetention` rewrites it.
    public var backupIndex: String { backupDirectory + "/index" }

    /// The script that installs `source` (sha256 `newSHA`) as the boot image. `expectedCurrentSHA`, when
    /// given, must still be the live image's hash (nobody changed it since it was read). `keepSource` keeps
    /// the source file (a backup being restored) instead of removing it (an upload). `reusing`, when given,
    /// is a backup under /data already holding the live image: it is used (once its sha256 is checked) instead
    /// of a second identical copy. `backingUp: false` (the live image is damaged, so worth no backup) skips
    /// both backups. `dataBackupRequired: false` (a rollback) goes on without the backup under /data when /data
    /// cannot take it, printing `@@note:REASON`: a full /data must not block the rollback its backups are for, and
    /// the image replaced is still kept on /boot. Prints `@@ok BOOTBACKUP DATABACKUP` (`-` for a skipped one) or
    /// `@@error:REASON`.
    public func installScript(source: String, newSHA: String, expectedCurrentSHA: String?, stamp: String, keepSource: Bool,
                              reason: BootImageBackup.Reason = .fix, reusing: String? = nil, backingUp: Bool = true,
                              dataBackupRequired: Bool = true) -> String {
        let q = shellQuoted
        return """
            set -u
            exec </dev/null
            command -v sha256sum >/dev/null || { echo "@@error:the board has no sha256sum (coreutils); nothing was changed"; exit 1; }
            img=\(q(image)); new=\(q(stagedImage)); bak=\(q(bootBackup)); backups=\(q(backupDirectory)); src=\(q(source))
            stamp=\(q(stamp)); want=\(q(newSHA)); reuse=\(q(reusing ?? "")); backing_up=\(backingUp ? "yes" : "no")
            data_required=\(dataBackupRequired ? "yes" : "no") made_img= made_its=
            fail() { echo "@@error:$*"; rm -f "$new" "$bak.tmp"; exit 1; }
            # A backup under /data that cannot be made: fatal for a fix, only noted for a rollback (see above).
            data_fail() {
              [ "$data_required" = yes ] || { echo "@@note:$*; the image replaced is kept on /boot only"; kept=-; return 0; }
              fail "$*; nothing was changed"
            }
            sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
            [ -f "$img" ] || fail "$img is missing"
            current=$(sha "$img")
            \(expectedCurrentSHA.map { "[ \"$current\" = \(q($0)) ] || fail \"$img changed since tpudeploy read it; run the command again\"" } ?? ":")
            [ "$(sha "$src")" = "$want" ] || fail "$src does not have the expected sha256 (it is damaged or incomplete); nothing was changed"
            if [ "$src" != "$new" ]; then
              rm -f "$new"
              cp "$src" "$new" 2>/dev/null || fail "cannot copy the new image into $(dirname "$img") (is it full?); nothing was changed"
              \(keepSource ? ":" : "rm -f \"$src\"")
            fi
            sync "$new"
            [ "$(sha "$new")" = "$want" ] || fail "the new image does not match what was sent (sha256 differs); nothing was changed"
            if [ "$backing_up" = yes ]; then
              if [ -n "$reuse" ] && [ -f "$reuse" ] && [ "$(sha "$reuse")" = "$current" ]; then
                kept="$reuse"   # the live image is backed up already: one copy per image is enough
              elif ! mkdir -p "$backups" 2>/dev/null; then
                data_fail "cannot create $backups"
              else
                name="emmcboot-$stamp-$(printf %s "$current" | cut -c1-12)"
                kept="$backups/$name.itb"
                made_img="$kept" made_its="$backups/multi-${name#emmcboot-}.its"
                if ! cp "$img" "$kept" 2>/dev/null; then
                  rm -f "$made_img" "$made_its"; data_fail "cannot back up $img to $backups (is /data full?)"
                elif [ -f "$(dirname "$img")/multi.its" ] && ! cp "$(dirname "$img")/multi.its" "$backups/multi-${name#emmcboot-}.its" 2>/dev/null; then
                  rm -f "$made_img" "$made_its"; data_fail "cannot back up multi.its to $backups (is /data full?)"
                else
                  sync "$kept"
                  [ "$(sha "$kept")" = "$current" ] || { rm -f "$made_img" "$made_its"; fail "the backup $kept does not match $img; nothing was changed"; }
                fi
              fi
              if [ "$kept" != - ] && ! { echo "$stamp $current ${kept##*/} \(reason.rawValue) $want" >> "$backups/index" && sync "$backups/index"; }; then
                # A copy the index does not name would never be pruned.
                [ -z "$made_img" ] || rm -f "$made_img" "$made_its"
                data_fail "cannot record the backup in $backups/index (is /data full?)"
              fi
              rm -f "$bak.tmp"
              cp "$img" "$bak.tmp" 2>/dev/null && sync "$bak.tmp" && [ "$(sha "$bak.tmp")" = "$current" ] && mv -f "$bak.tmp" "$bak" || fail "cannot back up $img inside $(dirname "$img") (is it full?); nothing was changed"
            else
              bak=- kept=-
            fi
            mv -f "$new" "$img" || fail "cannot rename the new image into place; nothing was changed"
            sync "$img"; sync -f "$img" 2>/dev/null || sync
            if [ "$(sha "$img")" != "$want" ] && [ "$bak" = - ]; then
              echo "@@error:$img did not read back as written: copy $src over $img before rebooting"
              exit 1
            elif [ "$(sha "$img")" != "$want" ]; then
              if cp "$bak" "$img.tmp" && sync "$img.tmp" && [ "$(sha "$img.tmp")" = "$current" ] && mv -f "$img.tmp" "$img" && sync "$img"; then
                echo "@@error:$img did not read back as written; the previous image was put back"
              else
                echo "@@error:$img did not read back as written AND putting the previous one back failed: copy $bak (or $kept) over $img before rebooting"
              fi
              exit 1
            fi
            echo "@@ok $bak $kept"
            """
    }

    /// Lists the backups under /data, newest last, with whether each still has its recorded hash:
    /// `STAMP SHA256 PATH ok|damaged|missing REASON REPLACED_BY FACTORY` lines (`-` for what old entries lack).
    /// A file several entries name is hashed once.
    public var listBackupsScript: String {
        """
        backups=\(shellQuoted(backupDirectory))
        [ -f "$backups/index" ] || exit 0
        seen=""
        while read -r stamp sha file reason replaced flag; do
          [ -n "$file" ] || continue
          path="$backups/$file"
          if [ ! -f "$path" ]; then state=missing
          else
            case "$seen" in *" $file=$sha "*) state=ok ;; *)
              if [ "$(sha256sum "$path" | cut -d' ' -f1)" = "$sha" ]; then state=ok; seen="$seen $file=$sha "; else state=damaged; fi ;;
            esac
          fi
          echo "$stamp $sha $path $state ${reason:--} ${replaced:--} ${flag:--}"
        done < "$backups/index"
        """
    }

    /// Removes `files`, then replaces the backup index with `lines` (written beside it, then renamed). Files
    /// go first so that a /data too full to write the new index still gets the space back; an index naming a
    /// removed file only lists it as missing. Prints `@@ok` or `@@error:REASON`.
    public func pruneScript(lines: [String], removing files: [String]) -> String {
        let q = shellQuoted
        return """
            set -u
            backups=\(q(backupDirectory))
            \(files.isEmpty ? ":" : "rm -f -- " + files.map(q).joined(separator: " "))
            { \(lines.isEmpty ? ":" : "printf '%s\\n' " + lines.map(q).joined(separator: " ")); } > "$backups/index.tmp" && sync "$backups/index.tmp" \\
              && mv -f "$backups/index.tmp" "$backups/index" && sync "$backups/index" \\
              || { rm -f "$backups/index.tmp"; echo "@@error:cannot rewrite $backups/index (is /data full?)"; exit 1; }
            echo @@ok
            """
    }

    /// Reports free space of /boot and /data and the size of files that matter for the pre-flight check.
    public var spaceScript: String {
        let q = shellQuoted
        return """
            size() { stat -c %s "$1" 2>/dev/null || echo 0; }
            echo "image $(size \(q(image)))"
            echo "its $(size \(q(its)))"
            echo "boot-backup $(size \(q(bootBackup)))"
            echo "staged $(size \(q(stagedImage)))"
            d=\(q(backupDirectory)); while [ ! -d "$d" ]; do d=$(dirname "$d"); done
            echo "boot-free $(( $(df -Pk \(q(bootDirectory)) | awk 'NR==2 {print $4}') * 1024 ))"
            echo "data-free $(( $(df -Pk "$d" | awk 'NR==2 {print $4}') * 1024 ))"
            """
    }
}

/// One backup of the boot image under /data, as the board lists it.
public struct BootImageBackup: Sendable, Codable, Equatable {
    public enum Condition: String, Sendable, Codable { case ok, damaged, missing }
    /// What replaced the backed-up image: a fix-memory edit, or a rollback.
    public enum Reason: String, Sendable, Codable { case fix, rollback }
    public var stamp: String
    public var sha256: String
    public var path: String
    public var condition: Condition
    public var reason: Reason?
    /// The sha256 of the image that replaced this one.
    public var replacedBy: String?
    /// The first image tpudeploy replaced on this board (its factory image, usually): never pruned.
    public var factory: Bool

    public init(stamp: String, sha256: String, path: String, condition: Condition, reason: Reason? = nil, replacedBy: String? = nil,
                factory: Bool = false) {
        self.stamp = stamp
        self.sha256 = sha256
        self.path = path
        self.condition = condition
        self.reason = reason
        self.replacedBy = replacedBy
        self.factory = factory
    }

    /// Parses the output of `listBackupsScript`.
    public static func parseList(_ text: String) throws -> [BootImageBackup] {
        try text.split(separator: "\n").map { line in
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count == 6 || fields.count == 7, let condition = Condition(rawValue: fields[3]) else {
                throw BoardOutputError(source: "the backup list", problem: "unexpected line", output: String(line))
            }
            return BootImageBackup(stamp: fields[0], sha256: fields[1], path: fields[2], condition: condition,
                                   reason: Reason(rawValue: fields[4]), replacedBy: fields[5] == "-" ? nil : fields[5],
                                   factory: fields.count == 7 && fields[6] == "factory")
        }
    }
}

/// Free space and file sizes on the board before a boot image is replaced.
public struct BootSpace: Sendable, Codable, Equatable {
    public var imageBytes: UInt64
    public var itsBytes: UInt64
    public var bootBackupBytes: UInt64
    public var stagedBytes: UInt64
    public var bootFreeBytes: UInt64
    public var dataFreeBytes: UInt64

    /// Parses the output of `spaceScript`.
    public init(text: String) throws {
        var values: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, let value = UInt64(fields[1]) { values[String(fields[0])] = value }
        }
        func value(_ key: String) throws -> UInt64 {
            guard let found = values[key] else {
                throw BoardOutputError(source: "the space check", problem: "no \(key) value", output: text)
            }
            return found
        }
        imageBytes = try value("image")
        itsBytes = try value("its")
        bootBackupBytes = try value("boot-backup")
        stagedBytes = try value("staged")
        bootFreeBytes = try value("boot-free")
        dataFreeBytes = try value("data-free")
    }

    /// /boot must hold the new image beside the old one plus a new backup of the old one, while the previous
    /// backup still exists (it is replaced only once the new one is checked); a stale staged file is removed
    /// first, so its space counts as free.
    public func bootBytesNeeded(newImageBytes: UInt64) -> UInt64 { newImageBytes + imageBytes }
    public var bootBytesAvailable: UInt64 { bootFreeBytes + stagedBytes }
    /// /data must hold a copy of the old image and its .its.
    public var dataBytesNeeded: UInt64 { imageBytes + itsBytes }
}
