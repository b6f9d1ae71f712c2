"""The work of `npm run bench`'s round figures on Flower 1.6, for the comparison
beside them (docs/performance.md, "Flower beside it").

    pip install flwr==1.6.0
    python3 bench/flower/round.py --clients 5              # round.n5_d100
    python3 bench/flower/round.py --clients 20             # round.n20_d100
    python3 bench/flower/round.py --clients 5 --light 1000000 --rounds 40   # round.n5_d1m

Each client is its own process on loopback. A d = 100 client holds 2,500 rows
of logistic data (2,000 to train on, 500 held out), standardized; each round it
trains one epoch of mini-batch SGD (batch 32, lr 0.1) and evaluates the global
model on its held-out rows, as the agents do. A light client returns the model
with fixed small noise added, no evaluation. Prints the mean round time of each
window of 10 rounds after 10 warm-up rounds, and their median.
"""
import argparse
import statistics
import subprocess
import sys
import time

import numpy as np
import flwr as fl


def logistic_data(n, d, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (1 / (1 + np.exp(-(x @ w))) > rng.random(n)).astype(np.float32)
    return x, y


class Logistic(fl.client.NumPyClient):
    def __init__(self, d, seed):
        x, y = logistic_data(2500, d, seed)
        x = (x - x[:2000].mean(0)) / (x[:2000].std(0) + 1e-12)
        self.xt, self.yt, self.xe, self.ye = x[:2000], y[:2000], x[2000:], y[2000:]
        self.rng = np.random.default_rng(seed)

    def get_parameters(self, config):
        return [np.zeros(self.xt.shape[1], np.float32), np.zeros(1, np.float32)]

    def fit(self, parameters, config):
        w, b = (p.astype(np.float64) for p in parameters)
        order = self.rng.permutation(len(self.xt))
        for start in range(0, len(order), 32):
            i = order[start:start + 32]
            g = 1 / (1 + np.exp(-(self.xt[i] @ w + b))) - self.yt[i]
            w -= 0.1 * (self.xt[i].T @ g) / len(i)
            b -= 0.1 * g.mean()
        return [w.astype(np.float32), b.astype(np.float32)], len(self.xt), {}

    def evaluate(self, parameters, config):
        w, b = parameters
        z = self.xe @ w + b
        loss = float(np.mean(np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - self.ye * z))
        return loss, len(self.xe), {"accuracy": float(np.mean((z > 0) == (self.ye == 1)))}


class Light(fl.client.NumPyClient):
    def __init__(self, weights, seed):
        self.noise = np.random.default_rng(seed).normal(scale=1e-3, size=weights).astype(np.float32)

    def get_parameters(self, config):
        return [np.zeros_like(self.noise)]

    def fit(self, parameters, config):
        return [parameters[0] + self.noise], 2000, {}


class Timed(fl.server.strategy.FedAvg):
    """FedAvg noting when each round ends: after its evaluation, or after its fit when there is none."""

    ends = []

    def aggregate_fit(self, server_round, results, failures):
        out = super().aggregate_fit(server_round, results, failures)
        if self.fraction_evaluate == 0:
            Timed.ends.append(time.perf_counter())
        return out

    def aggregate_evaluate(self, server_round, results, failures):
        out = super().aggregate_evaluate(server_round, results, failures)
        Timed.ends.append(time.perf_counter())
        return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["server", "client"], default="server")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=110)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--light", type=int, default=0, help="light clients on a model of this many weights")
    o = parser.parse_args()
    address = f"127.0.0.1:{o.port}"
    limit = 2**31 - 1
    if o.role == "client":
        client = Light(o.light, o.seed) if o.light else Logistic(o.d, o.seed)
        fl.client.start_numpy_client(server_address=address, client=client, grpc_max_message_length=limit)
        return
    n = o.clients
    strategy = Timed(fraction_fit=1, fraction_evaluate=0 if o.light else 1, min_fit_clients=n, min_evaluate_clients=n, min_available_clients=n)
    clients = [
        subprocess.Popen(
            [sys.executable, __file__, "--role", "client", "--port", str(o.port), "--d", str(o.d), "--seed", str(100 + i), "--light", str(o.light)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(n)
    ]
    try:
        fl.server.start_server(server_address=address, config=fl.server.ServerConfig(num_rounds=o.rounds), strategy=strategy, grpc_max_message_length=limit)
    finally:
        for c in clients:
            c.wait(timeout=30)
    e = Timed.ends
    windows = [(e[i + 10] - e[i]) / 10 * 1000 for i in range(10, len(e) - 10, 10)]
    name = f"n{n}_w{o.light}" if o.light else f"n{n}_d{o.d}"
    print(f"Flower {name}: ms a round, windows of 10 after 10 warm-up rounds: " + ", ".join(f"{w:.1f}" for w in windows))
    print(f"Flower {name}: median {statistics.median(windows):.1f} ms")


if __name__ == "__main__":
    main()
