"""What networks see: the real datasets (download, mirrors, preparation), the noise sets they are
pretrained on, and the out-of-distribution test sets. Depends on the package's plumbing only."""
