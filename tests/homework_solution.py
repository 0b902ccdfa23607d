"""Reference solution of notebooks/06_homework_template.ipynb: one source per STUDENT cell."""

SOLUTIONS = {
    "tanh_backward": '''
class TanhLayer:
    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        # d tanh(x)/dx = 1 - tanh(x)^2
        return dout * (1 - self.out**2)
''',
    "batchnorm_backward": '''
class BatchNormLayer:
    def __init__(self, n, eps=1e-5):
        self.eps = eps
        self.params = {"gamma": np.ones(n) + 0.1 * np.arange(n), "beta": np.zeros(n)}
        self.grads = {"gamma": np.zeros(n), "beta": np.zeros(n)}

    def forward(self, x):
        self.mean, self.var = x.mean(axis=0), x.var(axis=0)
        self.inv_std = 1 / np.sqrt(self.var + self.eps)
        self.xhat = (x - self.mean) * self.inv_std
        return self.params["gamma"] * self.xhat + self.params["beta"]

    def backward(self, dout):
        self.grads["gamma"] = np.sum(dout * self.xhat, axis=0)
        self.grads["beta"] = dout.sum(axis=0)
        dxhat = dout * self.params["gamma"]
        # the batch statistics depend on x: subtract the mean and the projection on xhat
        return (dxhat - dxhat.mean(axis=0)
                - self.xhat * np.mean(dxhat * self.xhat, axis=0)) * self.inv_std
''',
}
