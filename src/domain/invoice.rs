//! Owns what an invoice is for payment purposes: its kind, which direction of money settles
//! it (ARCHITECTURE.md, reconciliation rules), and the status that follows from its total and
//! what was paid.

use super::status::string_enum;

string_enum!(InvoiceKind {
    SalesInvoice => "SALES_INVOICE",
    SalesCreditNote => "SALES_CREDIT_NOTE",
    PurchaseInvoice => "PURCHASE_INVOICE",
    PurchaseCreditNote => "PURCHASE_CREDIT_NOTE",
});

string_enum!(InvoiceStatus {
    Open => "OPEN",
    PartiallyPaid => "PARTIALLY_PAID",
    Paid => "PAID",
    Overpaid => "OVERPAID",
    Void => "VOID",
});

impl InvoiceKind {
    /// The sign of a bank transaction that settles this kind: sales invoices are paid by
    /// incoming money, purchase invoices by outgoing money, credit notes the other way.
    pub fn settlement_sign(self) -> i64 {
        match self {
            InvoiceKind::SalesInvoice | InvoiceKind::PurchaseCreditNote => 1,
            InvoiceKind::SalesCreditNote | InvoiceKind::PurchaseInvoice => -1,
        }
    }
}

impl InvoiceStatus {
    /// Open or partially paid: money is still expected.
    pub fn awaits_payment(self) -> bool {
        matches!(self, InvoiceStatus::Open | InvoiceStatus::PartiallyPaid)
    }

    /// The status of a live (not void) invoice from its amounts in minor units: `paid` is
    /// what was allocated to it, `written_off` a shortfall accepted within tolerance.
    pub fn from_amounts(total: i64, paid: i64, written_off: i64) -> InvoiceStatus {
        let settled = paid + written_off;
        if paid <= 0 && written_off <= 0 {
            InvoiceStatus::Open
        } else if settled < total {
            InvoiceStatus::PartiallyPaid
        } else if paid > total {
            InvoiceStatus::Overpaid
        } else {
            InvoiceStatus::Paid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_amounts() {
        assert_eq!(InvoiceStatus::from_amounts(100, 0, 0), InvoiceStatus::Open);
        assert_eq!(
            InvoiceStatus::from_amounts(100, 40, 0),
            InvoiceStatus::PartiallyPaid
        );
        assert_eq!(
            InvoiceStatus::from_amounts(100, 100, 0),
            InvoiceStatus::Paid
        );
        assert_eq!(InvoiceStatus::from_amounts(100, 98, 2), InvoiceStatus::Paid);
        assert_eq!(
            InvoiceStatus::from_amounts(100, 101, 0),
            InvoiceStatus::Overpaid
        );
    }

    #[test]
    fn names_round_trip_and_signs() {
        for k in InvoiceKind::ALL {
            assert_eq!(InvoiceKind::parse(k.as_str()), Some(*k));
        }
        for s in InvoiceStatus::ALL {
            assert_eq!(InvoiceStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(InvoiceKind::SalesInvoice.settlement_sign(), 1);
        assert_eq!(InvoiceKind::PurchaseInvoice.settlement_sign(), -1);
        assert_eq!(InvoiceKind::SalesCreditNote.settlement_sign(), -1);
        assert_eq!(InvoiceKind::PurchaseCreditNote.settlement_sign(), 1);
    }
}
