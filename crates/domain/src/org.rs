//! The county's organisation (R-ACC-1): county → agencies → units, units nesting to any depth.
//! Branches of this tree are what every permission is scoped to: an admin acts inside its own
//! branch and never above or beside it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::DomainError;

crate::labelled_enum!(
    OrgKind {
        /// 本府: the root, one per deployment.
        County = ("county", "縣市政府", "county government"),
        /// 業務機關.
        Agency = ("agency", "業務機關", "agency"),
        /// 轄屬機關(單位); nests.
        Unit = ("unit", "轄屬單位", "unit"),
    }
);

impl OrgKind {
    /// What a new node under a node of this kind is: agencies sit under the county, units under
    /// agencies and under other units.
    pub fn child_kind(self) -> OrgKind {
        match self {
            OrgKind::County => OrgKind::Agency,
            OrgKind::Agency | OrgKind::Unit => OrgKind::Unit,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgNode {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub kind: OrgKind,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// Whether the body is divided into sections (股): decides the lowest reviewer rank (R-REV-3).
    pub has_sections: bool,
    pub active: bool,
}

/// The whole tree, loaded once per request from the store; small (a county has hundreds of nodes).
#[derive(Debug, Clone, Default)]
pub struct OrgTree {
    nodes: HashMap<i64, OrgNode>,
    children: HashMap<i64, Vec<i64>>,
    root: Option<i64>,
}

impl OrgTree {
    /// Builds the tree; refuses a forest, a cycle or a dangling parent.
    pub fn new(nodes: Vec<OrgNode>) -> Result<Self, DomainError> {
        let mut tree = OrgTree::default();
        for n in &nodes {
            match n.parent_id {
                None if tree.root.is_some() => {
                    return Err(DomainError::invalid(
                        "org",
                        "組織樹只能有一個根節點",
                        "the org tree has more than one root",
                    ));
                }
                None => tree.root = Some(n.id),
                Some(p) => tree.children.entry(p).or_default().push(n.id),
            }
        }
        tree.nodes = nodes.into_iter().map(|n| (n.id, n)).collect();
        for list in tree.children.values_mut() {
            list.sort_by(|a, b| {
                let (na, nb) = (&tree.nodes[a], &tree.nodes[b]);
                (&na.code, na.id).cmp(&(&nb.code, nb.id))
            });
        }
        // Every node must reach the root without revisiting a node.
        for &id in tree.nodes.keys() {
            let chain = tree.ancestors(id);
            if chain.last().copied() != tree.root || chain.len() > tree.nodes.len() {
                return Err(DomainError::invalid("org", "組織樹有斷裂或循環", "the org tree is broken or cyclic"));
            }
        }
        Ok(tree)
    }

    pub fn root(&self) -> Option<&OrgNode> {
        self.root.and_then(|r| self.nodes.get(&r))
    }

    pub fn get(&self, id: i64) -> Option<&OrgNode> {
        self.nodes.get(&id)
    }

    pub fn children(&self, id: i64) -> impl Iterator<Item = &OrgNode> {
        self.children.get(&id).into_iter().flatten().filter_map(|c| self.nodes.get(c))
    }

    /// The node itself, its parent, …, up to the root (stops at a dangling parent or a cycle).
    pub fn ancestors(&self, id: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut cur = self.nodes.get(&id);
        while let Some(n) = cur {
            if out.contains(&n.id) {
                break;
            }
            out.push(n.id);
            cur = n.parent_id.and_then(|p| self.nodes.get(&p));
        }
        out
    }

    /// Is `id` inside the branch rooted at `branch` (the branch root itself included)?
    pub fn is_within(&self, id: i64, branch: i64) -> bool {
        self.ancestors(id).contains(&branch)
    }

    /// The agency a node belongs to: itself when it is an agency, else its nearest agency
    /// ancestor. The county root belongs to no agency.
    pub fn agency_of(&self, id: i64) -> Option<i64> {
        self.ancestors(id).into_iter().find(|a| self.nodes.get(a).is_some_and(|n| n.kind == OrgKind::Agency))
    }

    /// The branch rooted at `id`, in depth-first order, each with its depth below `id`.
    pub fn branch(&self, id: i64) -> Vec<(usize, &OrgNode)> {
        let mut out = Vec::new();
        let mut stack = vec![(0usize, id)];
        while let Some((depth, cur)) = stack.pop() {
            if let Some(n) = self.nodes.get(&cur) {
                out.push((depth, n));
                let kids: Vec<i64> = self.children.get(&cur).cloned().unwrap_or_default();
                for k in kids.into_iter().rev() {
                    stack.push((depth + 1, k));
                }
            }
        }
        out
    }

    /// The path from the root down to `id`, for breadcrumbs.
    pub fn path(&self, id: i64) -> Vec<&OrgNode> {
        let mut p: Vec<&OrgNode> = self.ancestors(id).into_iter().filter_map(|a| self.nodes.get(&a)).collect();
        p.reverse();
        p
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn node(id: i64, parent: Option<i64>, kind: OrgKind, code: &str) -> OrgNode {
        OrgNode {
            id,
            parent_id: parent,
            kind,
            code: code.into(),
            name_zh: code.into(),
            name_en: code.into(),
            has_sections: true,
            active: true,
        }
    }

    /// county(1) → planning(2), health(3) → station(4) → sub-station(5); tax(6)
    pub fn sample() -> OrgTree {
        OrgTree::new(vec![
            node(1, None, OrgKind::County, "county"),
            node(2, Some(1), OrgKind::Agency, "planning"),
            node(3, Some(1), OrgKind::Agency, "health"),
            node(4, Some(3), OrgKind::Unit, "station"),
            node(5, Some(4), OrgKind::Unit, "sub"),
            node(6, Some(1), OrgKind::Agency, "tax"),
        ])
        .unwrap()
    }

    #[test]
    fn r_acc_1_branches_and_agencies() {
        let t = sample();
        assert!(t.is_within(5, 3));
        assert!(t.is_within(3, 3));
        assert!(!t.is_within(6, 3));
        assert!(!t.is_within(3, 4));
        assert_eq!(t.agency_of(5), Some(3));
        assert_eq!(t.agency_of(1), None);
        let codes: Vec<_> = t.branch(3).iter().map(|(d, n)| (*d, n.code.as_str())).collect();
        assert_eq!(codes, vec![(0, "health"), (1, "station"), (2, "sub")]);
    }

    #[test]
    fn refuses_two_roots_and_cycles() {
        assert!(OrgTree::new(vec![node(1, None, OrgKind::County, "a"), node(2, None, OrgKind::County, "b")]).is_err());
        assert!(
            OrgTree::new(vec![
                node(1, None, OrgKind::County, "a"),
                node(2, Some(3), OrgKind::Unit, "b"),
                node(3, Some(2), OrgKind::Unit, "c"),
            ])
            .is_err()
        );
    }

    #[test]
    fn child_kinds_follow_the_regulation() {
        assert_eq!(OrgKind::County.child_kind(), OrgKind::Agency);
        assert_eq!(OrgKind::Agency.child_kind(), OrgKind::Unit);
        assert_eq!(OrgKind::Unit.child_kind(), OrgKind::Unit);
    }
}
