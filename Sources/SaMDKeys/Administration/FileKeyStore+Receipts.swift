import Foundation
import Logging
import SaMDEnvelope

/// Destruction receipts, kept by the persistence (files under `receipts/`).
extension FileKeyStore {
    /// already happened and been logged: a receipt that cannot be written is logged as an error, and the
    /// receipt is still returned to the caller.
    func keep(_ receipt: DestructionReceipt) {
        self.keep([receipt])
    }

    /// Keeps several receipts, with one directory sync for them all.
    func keep(_ receipts: [DestructionReceipt]) {
        guard !receipts.isEmpty else { return }
        do {
            try self.persistence.keepReceipts(
                try receipts.map { receipt in
                    let stamp = Int(receipt.destroyedAt.timeIntervalSince1970 * 1000)
                    return (
                        "\(stamp)-\(receipt.key.name)-\(receipt.key.version).json",
                        Array(try StoreFormat.encoder.encode(receipt))
                    )
                }
            )
        } catch {
            for receipt in receipts {
                self.logger.error(
                    "destruction receipt not written",
                    metadata: ["event": "samd.keys.receipt-not-written", "key": "\(receipt.key)", "reason": "\(error)"])
            }
        }
    }
}
