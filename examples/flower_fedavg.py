"""A Flower app (FedAvg of a small PyTorch network on scikit-learn's digits) run over ns6g's emulated
6G cell instead of Flower's simulation engine. docs/flower.md walks through it.

The port from plain Flower is two lines: the import of ``start_simulation`` (marked "ns6g"), and the
``network=`` and ``run_dir=`` arguments of the call. Everything else is ordinary Flower code.

    python examples/flower_fedavg.py --rounds 3 --out runs/flower-fedavg   # over the ns-3 cell
    python examples/flower_fedavg.py --network none                        # no network: compute time only
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from flwr.client import NumPyClient
from flwr.common import Context, Metrics, NDArrays, ndarrays_to_parameters
from flwr.server import ServerConfig
from flwr.server.strategy import FedAvg
from sklearn.datasets import load_digits
from torch import nn

# from flwr.simulation import start_simulation  # plain Flower
from ns6g.flower import start_simulation  # ns6g: the same call, over the emulated network

NUM_CLIENTS = 4


class Net(nn.Module):
    """64 pixels -> 32 hidden units -> 10 digits."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def load_partition(partition_id: int, num_partitions: int) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_val, y_val) of one client: every num_partitions-th image, 80/20."""
    digits = load_digits()
    x = torch.tensor(digits.data[partition_id::num_partitions] / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target[partition_id::num_partitions], dtype=torch.int64)
    cut = int(0.8 * len(y))
    return x[:cut], y[:cut], x[cut:], y[cut:]


def get_weights(net: nn.Module) -> NDArrays:
    return [v.detach().cpu().numpy() for v in net.state_dict().values()]


def set_weights(net: nn.Module, weights: NDArrays) -> None:
    net.load_state_dict({k: torch.tensor(w) for k, w in zip(net.state_dict(), weights)})


class FlowerClient(NumPyClient):
    def __init__(self, partition_id: int, num_partitions: int) -> None:
        self.net = Net()
        self.x, self.y, self.x_val, self.y_val = load_partition(partition_id, num_partitions)

    def fit(self, parameters, config):
        set_weights(self.net, parameters)
        optimiser = torch.optim.SGD(self.net.parameters(), lr=0.3)
        for start in range(0, len(self.y), 32):
            loss = nn.functional.cross_entropy(self.net(self.x[start:start + 32]), self.y[start:start + 32])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        return get_weights(self.net), len(self.y), {"train_loss": loss.item()}

    def evaluate(self, parameters, config):
        set_weights(self.net, parameters)
        with torch.no_grad():
            out = self.net(self.x_val)
        loss = float(nn.functional.cross_entropy(out, self.y_val))
        accuracy = float((out.argmax(1) == self.y_val).float().mean())
        return loss, len(self.y_val), {"accuracy": accuracy}


def client_fn(context: Context):
    partition_id = int(context.node_config["partition-id"])
    num_partitions = int(context.node_config["num-partitions"])
    return FlowerClient(partition_id, num_partitions).to_client()


def weighted_average(metrics: list[tuple[int, Metrics]]) -> Metrics:
    return {"accuracy": sum(n * m["accuracy"] for n, m in metrics) / sum(n for n, _ in metrics)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--network", default="cosim", help="'cosim' (the ns-3 cell) or 'none'")
    parser.add_argument("--out", default=None, help="run directory to write (rounds, flows, energy)")
    args = parser.parse_args()
    torch.manual_seed(0)
    strategy = FedAvg(
        min_fit_clients=NUM_CLIENTS,
        min_evaluate_clients=NUM_CLIENTS,
        min_available_clients=NUM_CLIENTS,
        evaluate_metrics_aggregation_fn=weighted_average,
        initial_parameters=ndarrays_to_parameters(get_weights(Net())),
    )
    history = start_simulation(
        client_fn=client_fn,
        num_clients=NUM_CLIENTS,
        config=ServerConfig(num_rounds=args.rounds),
        strategy=strategy,
        network=args.network,  # ns6g: where the messages travel
        run_dir=args.out,  # ns6g: the run directory (rounds, flows, per-device energy)
    )
    accuracy = history.metrics_distributed["accuracy"][-1][1]
    print(f"federated accuracy after {args.rounds} rounds: {accuracy:.3f}")


if __name__ == "__main__":
    main()
