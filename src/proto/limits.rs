//! Planning transactions within the server's LIMITS (RFC 9422).

use super::address::Mailbox;
use super::capability::Limits;

impl Limits {
    /// Splits `recipients` into transactions that honour RCPTMAX (recipients per
    /// transaction) and RCPTDOMAINMAX (distinct recipient domains per transaction),
    /// returning each transaction as indices into `recipients`.
    ///
    /// The rule is first fit, in order: each recipient joins the earliest transaction
    /// that still has room for it (fewer than RCPTMAX recipients and, unless its domain is
    /// already there, fewer than RCPTDOMAINMAX domains), else it starts a new one. So the
    /// indices in each transaction are ascending, transactions are in the order of their
    /// first recipient, every recipient is in exactly one, and with RCPTMAX alone the
    /// transactions are consecutive runs. First fit (rather than cutting the list where
    /// a limit is reached) keeps the number of transactions down when domains
    /// interleave, which matters when MAILMAX limits transactions per connection.
    ///
    /// Domains are compared ignoring ASCII case (RFC 5321 §2.4) and otherwise as written:
    /// an A-label and a U-label of one domain count as two, which errs on the safe side.
    /// MAILMAX is not applied: if there are more transactions than it allows, the rest
    /// need another connection. A zero limit (which the EHLO parser never produces) is
    /// taken as 1.
    ///
    /// ```
    /// use smtp_courier::proto::{Limits, Mailbox};
    /// let rcpts: Vec<Mailbox> = ["a@x.org", "b@y.org", "c@x.org", "d@y.org", "e@x.org"]
    ///     .iter()
    ///     .map(|a| a.parse().unwrap())
    ///     .collect();
    /// let limits = Limits::new().with_rcpt_max(2).with_rcpt_domain_max(1);
    /// assert_eq!(limits.split_recipients(&rcpts), [vec![0, 2], vec![1, 3], vec![4]]);
    /// ```
    pub fn split_recipients(&self, recipients: &[Mailbox]) -> Vec<Vec<usize>> {
        let rcpt_max = limit(self.rcpt_max);
        let domain_max = limit(self.rcpt_domain_max);
        let mut groups: Vec<Group<'_>> = Vec::new();
        // Groups before this one are full: no need to look at them again.
        let mut first_open = 0;
        for (index, rcpt) in recipients.iter().enumerate() {
            let domain = rcpt.domain().as_str();
            let fits = |g: &Group<'_>| {
                g.members.len() < rcpt_max
                    && (g.domains.len() < domain_max
                        || g.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)))
            };
            let found = groups
                .get(first_open..)
                .unwrap_or_default()
                .iter()
                .position(fits)
                .map(|p| p.saturating_add(first_open));
            let group = match found.and_then(|i| groups.get_mut(i)) {
                Some(g) => g,
                None => {
                    groups.push(Group::default());
                    let Some(g) = groups.last_mut() else {
                        continue;
                    };
                    g
                }
            };
            if !group.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
                group.domains.push(domain);
            }
            group.members.push(index);
            while groups
                .get(first_open)
                .is_some_and(|g| g.members.len() >= rcpt_max)
            {
                first_open = first_open.saturating_add(1);
            }
        }
        groups.into_iter().map(|g| g.members).collect()
    }
}

/// One planned transaction.
#[derive(Default)]
struct Group<'a> {
    members: Vec<usize>,
    domains: Vec<&'a str>,
}

/// A limit as a count: none is unbounded, zero is taken as one.
fn limit(n: Option<u32>) -> usize {
    n.map_or(usize::MAX, |n| {
        usize::try_from(n.max(1)).unwrap_or(usize::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcpts(addrs: &[&str]) -> Vec<Mailbox> {
        addrs.iter().map(|a| Mailbox::new(*a).unwrap()).collect()
    }

    fn limits(rcpt_max: Option<u32>, rcpt_domain_max: Option<u32>) -> Limits {
        Limits {
            rcpt_max,
            rcpt_domain_max,
            mail_max: None,
        }
    }

    /// Checks what every plan must satisfy, whatever the rule.
    fn check(plan: &[Vec<usize>], list: &[Mailbox], l: &Limits) {
        let mut seen: Vec<usize> = plan.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(
            seen,
            (0..list.len()).collect::<Vec<_>>(),
            "each recipient once"
        );
        for group in plan {
            assert!(!group.is_empty());
            assert!(
                group.windows(2).all(|w| w[0] < w[1]),
                "order kept: {group:?}"
            );
            if let Some(max) = l.rcpt_max {
                assert!(group.len() <= max as usize, "{group:?}");
            }
            let mut domains: Vec<String> = group
                .iter()
                .map(|&i| list[i].domain().as_str().to_ascii_lowercase())
                .collect();
            domains.sort();
            domains.dedup();
            if let Some(max) = l.rcpt_domain_max {
                assert!(domains.len() <= max as usize, "{group:?}");
            }
        }
    }

    #[test]
    fn no_limits_is_one_transaction() {
        let list = rcpts(&["a@x.org", "b@y.org", "c@z.org"]);
        let l = Limits::default();
        assert_eq!(l.split_recipients(&list), [vec![0, 1, 2]]);
        assert!(l.split_recipients(&[]).is_empty());
    }

    #[test]
    fn rcpt_max_alone_gives_consecutive_runs() {
        let list = rcpts(&["a@x.org", "b@y.org", "c@x.org", "d@y.org", "e@x.org"]);
        let l = limits(Some(2), None);
        let plan = l.split_recipients(&list);
        assert_eq!(plan, [vec![0, 1], vec![2, 3], vec![4]]);
        check(&plan, &list, &l);
        let l = limits(Some(5), None);
        assert_eq!(l.split_recipients(&list), [vec![0, 1, 2, 3, 4]]);
    }

    #[test]
    fn rcpt_domain_max_groups_by_domain_first_fit() {
        let list = rcpts(&[
            "a@x.org", "b@Y.org", "c@X.ORG", "d@z.org", "e@y.org", "f@x.org",
        ]);
        let l = limits(None, Some(1));
        let plan = l.split_recipients(&list);
        // Case does not make a new domain.
        assert_eq!(plan, [vec![0, 2, 5], vec![1, 4], vec![3]]);
        check(&plan, &list, &l);
        let l = limits(None, Some(2));
        let plan = l.split_recipients(&list);
        assert_eq!(plan, [vec![0, 1, 2, 4, 5], vec![3]]);
        check(&plan, &list, &l);
    }

    #[test]
    fn both_limits() {
        let list = rcpts(&[
            "a@x.org", "b@x.org", "c@x.org", "d@y.org", "e@y.org", "f@z.org", "g@x.org",
        ]);
        let l = limits(Some(2), Some(2));
        let plan = l.split_recipients(&list);
        assert_eq!(plan, [vec![0, 1], vec![2, 3], vec![4, 5], vec![6]]);
        check(&plan, &list, &l);
        // A full transaction is never reopened, even for its own domain.
        let l = limits(Some(3), Some(1));
        let plan = l.split_recipients(&list);
        assert_eq!(plan, [vec![0, 1, 2], vec![3, 4], vec![5], vec![6]]);
        check(&plan, &list, &l);
    }

    #[test]
    fn zero_limits_from_a_caller_are_one() {
        let list = rcpts(&["a@x.org", "b@x.org"]);
        let l = limits(Some(0), Some(0));
        assert_eq!(l.split_recipients(&list), [vec![0], vec![1]]);
    }

    #[test]
    fn many_recipients_stay_within_limits() {
        let addrs: Vec<String> = (0..500)
            .map(|i| format!("u{i}@d{}.example", (i * 7) % 13))
            .collect();
        let list: Vec<Mailbox> = addrs
            .iter()
            .map(|a| Mailbox::new(a.as_str()).unwrap())
            .collect();
        for (rm, dm) in [
            (Some(1), None),
            (Some(100), Some(3)),
            (None, Some(1)),
            (Some(7), Some(2)),
        ] {
            let l = limits(rm, dm);
            check(&l.split_recipients(&list), &list, &l);
        }
        // With one domain per transaction there are exactly as many as domains.
        assert_eq!(limits(None, Some(1)).split_recipients(&list).len(), 13);
    }
}
