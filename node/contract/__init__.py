"""The job API's contract: Alerting Hub's sendalert request and response models and the duration
formats they use. Below jobs, store and api: it imports nothing of the node but errors."""
