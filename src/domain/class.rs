//! What a job needs of a worker (its [`BuildClass`]) and what a worker can build
//! (its [`BuildSet`], from `COREBUILD_ARCHITECTURES` and `COREBUILD_IMAGE_KINDS`). In a
//! fleet each class has its own subject and consumer, so a job goes only to a worker
//! that can build it.

use serde::Serialize;

use super::job::{Architecture, ImageKind, Job};

/// An architecture and an image kind that go together (`rpi` builds no `ubuntu-iso`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BuildClass {
    pub(crate) architecture: Architecture,
    pub(crate) image_kind: ImageKind,
}

impl BuildClass {
    /// Whether a job of this architecture and kind can exist at all.
    pub(crate) fn new(architecture: Architecture, image_kind: ImageKind) -> Option<Self> {
        let valid = !(architecture == Architecture::Rpi && image_kind == ImageKind::UbuntuIso);
        valid.then_some(Self {
            architecture,
            image_kind,
        })
    }

    pub(crate) fn of(job: &Job) -> Self {
        Self {
            architecture: job.architecture,
            image_kind: job.image.kind(),
        }
    }

    /// Every class a job can have, in a fixed order.
    pub(crate) fn all() -> Vec<Self> {
        BuildSet::everything().classes()
    }

    /// `amd64/ubuntu-iso`: how people and metrics labels name it.
    pub(crate) fn label(self) -> String {
        self.to_string()
    }

    /// The class a label names.
    pub(crate) fn from_label(label: &str) -> Option<Self> {
        let (architecture, kind) = label.split_once('/')?;
        Self::new(
            Architecture::from_wire(architecture)?,
            ImageKind::from_wire(kind)?,
        )
    }
}

impl std::fmt::Display for BuildClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.architecture, self.image_kind)
    }
}

/// The architectures and image kinds one worker builds; at least one class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuildSet {
    architectures: Vec<Architecture>,
    image_kinds: Vec<ImageKind>,
}

impl BuildSet {
    /// Every architecture and kind: a worker not told otherwise builds everything.
    pub(crate) fn everything() -> Self {
        Self {
            architectures: Architecture::ALL.to_vec(),
            image_kinds: ImageKind::ALL.to_vec(),
        }
    }

    /// The set of the lists given (order and repeats do not matter); an error says
    /// why no job could be built with them.
    pub(crate) fn new(
        architectures: &[Architecture],
        image_kinds: &[ImageKind],
    ) -> Result<Self, String> {
        let set = Self {
            architectures: Architecture::ALL
                .iter()
                .copied()
                .filter(|a| architectures.contains(a))
                .collect(),
            image_kinds: ImageKind::ALL
                .iter()
                .copied()
                .filter(|k| image_kinds.contains(k))
                .collect(),
        };
        if set.classes().is_empty() {
            return Err(format!(
                "COREBUILD_ARCHITECTURES ({}) and COREBUILD_IMAGE_KINDS ({}) leave no image this worker could build (rpi builds no ubuntu-iso)",
                join(&set.architectures),
                join(&set.image_kinds)
            ));
        }
        Ok(set)
    }

    pub(crate) fn architectures(&self) -> &[Architecture] {
        &self.architectures
    }

    pub(crate) fn image_kinds(&self) -> &[ImageKind] {
        &self.image_kinds
    }

    pub(crate) fn builds(&self, class: BuildClass) -> bool {
        self.architectures.contains(&class.architecture)
            && self.image_kinds.contains(&class.image_kind)
    }

    /// Why a worker of this set refuses a job of `class`, naming the field and what
    /// it builds instead; `None` when it builds the class.
    pub(crate) fn refusal(&self, class: BuildClass) -> Option<String> {
        if self.builds(class) {
            return None;
        }
        let field = if self.architectures.contains(&class.architecture) {
            "job.imageKind"
        } else {
            "job.architecture"
        };
        Some(format!(
            "{field}: this worker does not build {class} images (COREBUILD_ARCHITECTURES={}, COREBUILD_IMAGE_KINDS={}); send the job to a worker whose capabilities list them",
            join(&self.architectures),
            join(&self.image_kinds),
        ))
    }

    /// The classes of jobs this set builds, in a fixed order.
    pub(crate) fn classes(&self) -> Vec<BuildClass> {
        self.architectures
            .iter()
            .flat_map(|a| {
                self.image_kinds
                    .iter()
                    .filter_map(|k| BuildClass::new(*a, *k))
            })
            .collect()
    }
}

fn join<T: std::fmt::Display>(values: &[T]) -> String {
    if values.is_empty() {
        return "none".to_owned();
    }
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_builds_its_classes_and_no_others() {
        let set = BuildSet::new(
            &[Architecture::Arm64, Architecture::Rpi],
            &[ImageKind::BalenaRaw],
        )
        .unwrap();
        let classes: Vec<String> = set.classes().iter().map(|c| c.label()).collect();
        assert_eq!(classes, ["arm64/balena-raw", "rpi/balena-raw"]);
        assert!(!set.builds(BuildClass::new(Architecture::Amd64, ImageKind::BalenaRaw).unwrap()));
        assert_eq!(BuildClass::all().len(), 5, "rpi builds no ubuntu-iso");
    }

    #[test]
    fn a_set_that_builds_nothing_is_refused_with_both_variables_named() {
        let err = BuildSet::new(&[Architecture::Rpi], &[ImageKind::UbuntuIso]).unwrap_err();
        assert!(err.contains("COREBUILD_ARCHITECTURES (rpi)"), "{err}");
        assert!(err.contains("COREBUILD_IMAGE_KINDS (ubuntu-iso)"), "{err}");
    }

    #[test]
    fn labels_name_classes_both_ways() {
        for class in BuildClass::all() {
            assert_eq!(BuildClass::from_label(&class.label()), Some(class));
        }
        assert_eq!(BuildClass::from_label("rpi/ubuntu-iso"), None);
    }
}
